import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../../base/root.mjs";
import { runWithMocks } from "../mocks.ts";
import { deployPlatform, platformOutputs } from "../program.ts";
import { findPlaceholders, placeholderMessage } from "./placeholders.ts";
import { loadSpec, requireKubernetes, SpecError } from "./spec.ts";

const stack = (name: string) => requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", `${name}.yaml`)), name);

describe("placeholders in cloud stacks", () => {
  it("finds documentation ranges, example names and example accounts, field by field", () => {
    const found = findPlaceholders({
      clouds: {
        aws: { cluster: { apiAccessCidrs: ["198.51.100.7/32", "100.20.0.0/16"] } },
        alicloud: { cluster: { apiAccessCidrs: ["192.0.2.0/25"] } },
      },
      kubernetes: {
        ingress: { host: "chat.example.org", tls: { acmeEmail: "ops@example.net" } },
        image: { registry: "registry.test:5000/im", build: { alicloudRegistryUser: "me@example.onaliyun.com" } },
      },
    });
    assert.deepEqual(
      found.map((p) => [p.field, p.value]),
      [
        ["clouds.aws.cluster.apiAccessCidrs[0]", "198.51.100.7/32"],
        ["clouds.alicloud.cluster.apiAccessCidrs[0]", "192.0.2.0/25"],
        ["kubernetes.ingress.host", "chat.example.org"],
        ["kubernetes.ingress.tls.acmeEmail", "ops@example.net"],
        ["kubernetes.image.registry", "registry.test:5000/im"],
        ["kubernetes.image.build.alicloudRegistryUser", "me@example.onaliyun.com"],
      ],
    );
    assert.equal(
      placeholderMessage("s.yaml", found),
      's.yaml: clouds.aws.cluster.apiAccessCidrs[0]: got "198.51.100.7/32"; a documentation range (RFC 5737): list ' +
        "the operators' egress blocks, or remove the list for a private API (and 5 more placeholder(s); imctl plan lists them)",
    );
  });

  it("passes owned names and routable blocks, and ignores a stack on an existing cluster", () => {
    const owned = {
      clouds: { aws: { cluster: { apiAccessCidrs: ["100.20.0.0/16"] } } },
      kubernetes: {
        ingress: { host: "im.examples.io" },
        image: { registry: "ghcr.io/acme/im", build: { alicloudRegistryUser: "ops@acme.onaliyun.com" } },
      },
    };
    assert.deepEqual(findPlaceholders(owned), []);
    assert.equal(placeholderMessage("s.yaml", []), null);
    assert.deepEqual(findPlaceholders({ kubernetes: owned.kubernetes }), []);
    assert.deepEqual(findPlaceholders(stack("embedded-cluster")), []);
  });

  it("lists what each shipped cloud stack still needs from its owner", () => {
    const fields = (name: string) => findPlaceholders(stack(name)).map((p) => p.field);
    const edge = ["kubernetes.ingress.host", "kubernetes.ingress.tls.acmeEmail"];
    assert.deepEqual(fields("aws-prod"), edge);
    assert.deepEqual(fields("alicloud-prod"), [...edge, "kubernetes.image.build.alicloudRegistryUser"]);
    assert.deepEqual(fields("multicloud"), [...edge, "kubernetes.image.registry"]);
  });

  it("the Pulumi program refuses such a stack with one line before declaring anything", async () => {
    const spec = stack("aws-prod");
    const { resources } = await runWithMocks("refused", () => {
      assert.throws(
        () => deployPlatform(spec),
        (err: unknown) =>
          err instanceof SpecError &&
          err.message ===
            'stacks/aws-prod.yaml: kubernetes.ingress.host: got "im.example.com"; a reserved example name (RFC 2606): ' +
              "the public name of the edge, whose certificate the stack obtains (and 1 more placeholder(s); imctl plan lists them)",
      );
    });
    assert.deepEqual(
      resources.filter((r) => r.custom),
      [],
    );
    const owned = {
      ...spec,
      kubernetes: {
        ...spec.kubernetes,
        ingress: {
          ...spec.kubernetes.ingress,
          host: "im.acme.io",
          tls: { acmeEmail: "ops@acme.io", acmeServer: "letsencrypt" as const },
        },
      },
    };
    const { result, resources: declared } = await runWithMocks("owned", () =>
      platformOutputs(owned, deployPlatform(owned)),
    );
    assert.ok(declared.some((r) => r.type === "aws:eks/cluster:Cluster"));
    assert.deepEqual(result.platform.clouds, ["aws"]);
    assert.equal(result.vpnTunnels, undefined);
  });
});
