import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "./root.mjs";
import { KUBERNETES_VERSION, PULUMI_VERSION, TOOLS, toolsFor } from "./tools.mjs";

const TEST_TOOLS = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kubelet",
  "kube-proxy",
  "coredns",
  "traefik",
  "gateway-api-crds",
  "pause",
  "containerd",
  "containerd-shim-runc-v2",
  "ctr",
  "runc",
  "cni-bridge",
  "cni-host-local",
  "cni-loopback",
  "kwok",
  "pulumi",
  "pulumi-resource-kubernetes",
];

/** The go.mod of a wrapper module under tools/. */
const goMod = (folder: string) => readFileSync(join(REPO_ROOT, "tools", folder, "go.mod"), "utf8");

describe("the tool registry", () => {
  it("leaves the test-only tools out of the local profile", () => {
    const local = toolsFor("local").map((t) => t.name);
    assert.deepEqual(
      local.filter((n) => TEST_TOOLS.includes(n)),
      [],
    );
    assert.ok(["redis-server", "nginx", "k6", "kafka"].every((n) => local.includes(n)));
    assert.deepEqual(
      TOOLS.filter((t) => t.need === "test").map((t) => t.name),
      TEST_TOOLS,
    );
    assert.equal(toolsFor("all").length, TOOLS.length);
  });

  it("builds each tool from a folder that has its sources", () => {
    for (const t of TOOLS.filter((x) => x.source === "go" && x.package.startsWith("tools/"))) {
      const dir = join(REPO_ROOT, t.package);
      assert.ok(existsSync(dir), `${t.name}: ${t.package} exists`);
    }
    for (const main of [
      "main.go",
      "kube-controller-manager/main.go",
      "kube-scheduler/main.go",
      "kubelet/main.go",
      "kube-proxy/main.go",
    ]) {
      assert.ok(existsSync(join(REPO_ROOT, "tools", "kube-apiserver", main)), main);
    }
  });

  it("stamps the versions the wrapper modules pin", () => {
    assert.match(goMod("kube-apiserver"), new RegExp(`^\\s*k8s\\.io/kubernetes ${KUBERNETES_VERSION}$`, "m"));
    assert.match(goMod("pulumi"), new RegExp(`^require github\\.com/pulumi/pulumi/pkg/v3 ${PULUMI_VERSION}$`, "m"));
  });
});
