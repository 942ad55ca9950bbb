import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { REPO_ROOT } from "../../base/root.mjs";
import { CLUSTER_LIMITS, PREINSTALLED, resolveKubeconfig } from "./spec-cluster.ts";
import { isExistingCluster, parseSpec, requireKubernetes } from "./spec.ts";

const SOURCE = "stacks/embedded-cluster.yaml";
const raw = () =>
  parse(readFileSync(join(REPO_ROOT, "stacks", "embedded-cluster.yaml"), "utf8")) as Record<string, any>;
/** The one-line message a broken copy of the stack gets. */
const refusal = (edit: (r: Record<string, any>) => void): string => {
  const r = raw();
  edit(r);
  try {
    parseSpec(r, SOURCE);
  } catch (err) {
    assert.equal((err as Error).name, "SpecError");
    const message = (err as Error).message;
    assert.ok(!message.includes("\n"), `one line: ${message}`);
    return message;
  }
  throw new Error("the stack was accepted");
};

describe("existing-cluster section of the platform spec", () => {
  it("narrows to an existing-cluster spec with no clouds and defaults resolved", () => {
    const spec = requireKubernetes(parseSpec(raw(), SOURCE), SOURCE);
    assert.ok(isExistingCluster(spec));
    assert.deepEqual(spec.clouds, {});
    assert.deepEqual(spec.cluster.nodeSelector, { "imctl.im-platform.io/node": "real" });
    assert.equal(spec.cluster.data.mode === "external" && spec.cluster.data.database.adminUser, "root");
  });

  it("makes tags optional (no cloud resource to tag)", () => {
    const r = raw();
    delete r.tags;
    const spec = requireKubernetes(parseSpec(r, SOURCE), SOURCE);
    assert.deepEqual(spec.tags, {});
  });

  it("refuses clouds and cluster together", () => {
    assert.equal(
      refusal((r) => (r.clouds = {})),
      `${SOURCE}: clouds: got {}; a stack has either clouds (clusters the program provisions) or cluster ` +
        "(an existing cluster by kubeconfig), not both",
    );
  });

  it("asks for clouds or a cluster when neither is there", () => {
    const message = refusal((r) => delete r.cluster);
    assert.ok(message.startsWith(`${SOURCE}: clouds: got missing; required when target is kubernetes: `), message);
    assert.ok(
      message.endsWith("or a cluster section for an existing cluster instead (see stacks/embedded-cluster.yaml)"),
      message,
    );
  });

  it("refuses a cluster without the Gateway API", () => {
    assert.equal(
      refusal((r) => (r.cluster.preinstalled = ["prometheus-operator"])),
      `${SOURCE}: cluster.preinstalled: got ["prometheus-operator"]; must include gateway-api: the platform's traffic ` +
        "layer is a Gateway and HTTPRoutes (ingress-nginx is retired); install the Gateway API CRDs and a " +
        "controller, then declare it",
    );
  });

  it("names the operators it knows", () => {
    assert.equal(
      refusal((r) => (r.cluster.preinstalled = ["gateway-api", "istio"])),
      `${SOURCE}: cluster.preinstalled.1: got "istio"; allowed: "gateway-api", "prometheus-operator", "strimzi", ` +
        '"tidb-operator", "cert-manager", "k6-operator"',
    );
  });

  it("needs three distinct zones", () => {
    assert.match(
      refusal((r) => (r.cluster.zones = ["zone-a", "zone-b"])),
      /^stacks\/embedded-cluster\.yaml: cluster\.zones: got \["zone-a","zone-b"\]; 3 zones \(values of topology\.kubernetes\.io\/zone\)/,
    );
    assert.equal(
      refusal((r) => (r.cluster.zones = ["zone-a", "zone-b", "zone-a"])),
      `${SOURCE}: cluster.zones.2: got "zone-a"; listed twice: the zones must differ`,
    );
  });

  it("takes an external data tier at host:port addresses", () => {
    assert.equal(
      refusal((r) => (r.cluster.data.mode = "managed")),
      `${SOURCE}: cluster.data.mode: got "managed"; allowed: "external", "in-cluster"`,
    );
    assert.equal(
      refusal((r) => (r.cluster.data.redisNodes = ["127.0.0.1"])),
      `${SOURCE}: cluster.data.redisNodes.0: got "127.0.0.1"; host:port, e.g. 10.0.0.5:6379 or redis-0.example:6379`,
    );
  });

  it("takes an in-cluster data tier with defaults, only through preinstalled Strimzi and TiDB Operator", () => {
    const inCluster = (r: Record<string, any>) => {
      r.cluster.data = { mode: "in-cluster" };
      r.cluster.preinstalled = ["gateway-api", "strimzi", "tidb-operator"];
    };
    const r = raw();
    inCluster(r);
    const spec = requireKubernetes(parseSpec(r, SOURCE), SOURCE);
    assert.ok(isExistingCluster(spec));
    assert.deepEqual(spec.cluster.data, {
      mode: "in-cluster",
      redisStorageGb: 20,
      kafkaStorageGb: 100,
      tidb: { pd: 3, tikv: 3, tidb: 2, storageGb: 100 },
    });
    assert.equal(
      refusal((x) => {
        inCluster(x);
        x.cluster.preinstalled = ["gateway-api", "strimzi"];
      }),
      `${SOURCE}: cluster.preinstalled: got ["gateway-api","strimzi"]; data.mode in-cluster runs Kafka through Strimzi and TiDB through TiDB ` +
        "Operator: tidb-operator missing (install the operator, then declare it), or use data.mode external",
    );
    assert.equal(
      refusal((x) => {
        inCluster(x);
        x.cluster.data.redisNodes = ["127.0.0.1:17001"];
      }),
      `${SOURCE}: cluster.data.redisNodes: unknown field; allowed here: mode, storageClass, nodeSelector, tolerations, ` +
        "redisStorageGb, kafkaStorageGb, tidb, backup",
    );
    assert.equal(
      refusal((x) => {
        inCluster(x);
        x.cluster.data.backup = { bucket: "im-backups", endpoint: "http://minio:9000", credentialsSecret: "minio" };
      }),
      `${SOURCE}: cluster.data.backup.endpoint: got "http://minio:9000"; an https:// URL without query or fragment`,
    );
    assert.equal(
      refusal((x) => {
        inCluster(x);
        x.cluster.data.tidb = { pd: 0 };
      }),
      `${SOURCE}: cluster.data.tidb.pd: got 0; must be at least 1`,
    );
  });

  it("needs the kubeconfig and the context", () => {
    assert.equal(
      refusal((r) => delete r.cluster.context),
      `${SOURCE}: cluster.context: got missing; expected string`,
    );
  });

  it("takes prebuilt images only", () => {
    assert.match(
      refusal((r) => {
        delete r.kubernetes.image.registry;
        r.kubernetes.image.build = {};
      }),
      /^stacks\/embedded-cluster\.yaml: kubernetes\.image\.build: got \{\}; an existing cluster takes prebuilt images/,
    );
  });

  it("refuses a tag that cannot be a namespace label", () => {
    assert.match(
      refusal((r) => (r.tags.owner = "the platform team")),
      /^stacks\/embedded-cluster\.yaml: tags\.owner: got "the platform team"; on an existing cluster tags become namespace labels/,
    );
  });

  it("resolves the kubeconfig against the repository root, ~ against the home directory", () => {
    assert.equal(resolveKubeconfig(".imctl/cluster/kubeconfig", "/repo", "/home/u"), "/repo/.imctl/cluster/kubeconfig");
    assert.equal(resolveKubeconfig("~/.kube/config", "/repo", "/home/u"), "/home/u/.kube/config");
    assert.equal(resolveKubeconfig("~", "/repo", "/home/u"), "/home/u");
    assert.equal(resolveKubeconfig("/etc/kubeconfig", "/repo", "/home/u"), "/etc/kubeconfig");
  });
});

describe("every list of the cluster section has a maximum", () => {
  const toleration = { key: "k", operator: "Exists", effect: "NoSchedule" };
  const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`l${i}`, "v"]));
  const cases: Array<[string, number, (r: Record<string, any>, n: number) => void]> = [
    [
      "cluster.data.redisNodes",
      CLUSTER_LIMITS.redisNodes,
      (r, n) => (r.cluster.data.redisNodes = Array(n).fill("r:6379")),
    ],
    [
      "cluster.data.kafkaBrokers",
      CLUSTER_LIMITS.kafkaBrokers,
      (r, n) => (r.cluster.data.kafkaBrokers = Array(n).fill("k:9092")),
    ],
    ["cluster.zones", CLUSTER_LIMITS.zones, (r, n) => (r.cluster.zones = Array.from({ length: n }, (_, i) => `z${i}`))],
    ["cluster.tolerations", CLUSTER_LIMITS.tolerations, (r, n) => (r.cluster.tolerations = Array(n).fill(toleration))],
    ["cluster.preinstalled", PREINSTALLED.length, (r, n) => (r.cluster.preinstalled = Array(n).fill("gateway-api"))],
  ];
  for (const [field, max, set] of cases)
    it(`${field}: ${max} entries at most, one line naming the field`, () => {
      assert.equal(
        refusal((r) => set(r, max + 1)),
        `${SOURCE}: ${field}: got a list of ${max + 1} items; must be at most ${max} items`,
      );
    });

  it("cluster.nodeSelector: 32 labels at most", () => {
    assert.equal(
      refusal((r) => (r.cluster.nodeSelector = labels(CLUSTER_LIMITS.nodeSelector + 1))),
      `${SOURCE}: cluster.nodeSelector: got a mapping of 33 keys; must have at most 32 labels`,
    );
  });

  it("a data tier in the cluster: its tolerations too", () => {
    const line = refusal((r) => {
      r.cluster.data = { mode: "in-cluster", tolerations: Array(CLUSTER_LIMITS.tolerations + 1).fill(toleration) };
    });
    assert.match(line, /: cluster\.data\.tolerations: got a list of 51 items; must be at most 50 items$/);
  });
});
