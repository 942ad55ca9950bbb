/**
 * `imctl up|preview|destroy` with the real Pulumi engine (the CLI and the kubernetes provider built from the Go
 * module proxy, in .tools/bin) against the embedded cluster (`imctl cluster up`: etcd, kube-apiserver,
 * controller-manager, scheduler and kwok nodes in three zones). What mocks cannot show is checked here: the real API
 * server accepts every object (server-side apply validates fields), the Pod Security `restricted` level admits
 * every pod, Deployments reach Ready, a second `up` changes nothing, a changed replica count rolls and is awaited,
 * a stack a policy refuses creates nothing, and `destroy` leaves the cluster without the platform. A second stack
 * runs the data tier in the cluster through preinstalled Strimzi and TiDB Operator (their CRDs only: no operator
 * runs here, so their objects are accepted and stored but never become brokers or TiDB pods); its Redis Cluster
 * StatefulSet is the program's own and reaches Ready on statically provisioned volumes.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { parse, parseAllDocuments, stringify } from "yaml";
import { ensureTools } from "../../base/install.mjs";
import { REPO_ROOT } from "../../base/root.mjs";
import { TOOLS } from "../../base/tools.mjs";
import { imctl, keepTempDir, tempDir, type ImctlRun } from "../helpers/imctl.ts";

// Test-only tools: built here once on a machine set up by `npm start` (outside the suite's timeout).
// Every test-only tool is one of this test's: the cluster's five and the engine's two.
ensureTools(TOOLS.filter((t) => t.need === "test").map((t) => t.name));

const state = tempDir("pulumi-embedded");
const env = { IMCTL_STATE_DIR: state };
const kubeconfig = join(state, "cluster", "kubeconfig");
const NS = "im";

/** stacks/embedded-cluster.yaml, written to a temp dir pointing at this test's cluster, `edit` applied. */
function stackCopy(name: string, edit: (spec: Record<string, any>) => void = () => undefined): string {
  const spec = parse(readFileSync(join(REPO_ROOT, "stacks", "embedded-cluster.yaml"), "utf8")) as Record<string, any>;
  spec.name = name;
  spec.cluster.kubeconfig = kubeconfig;
  // The simulated nodes only: prebuilt images by name (nothing pulls them) and no real node to select.
  spec.cluster.nodeSelector = {};
  spec.kubernetes.image.registry = "registry.example.com/im";
  // This test installs both operators' CRDs (test/fixtures/crds), so the program creates the monitoring objects too.
  spec.cluster.preinstalled = ["gateway-api", "prometheus-operator"];
  edit(spec);
  const file = join(tempDir("stack"), `${name}.yaml`);
  writeFileSync(file, stringify(spec));
  return file;
}

function json(r: ImctlRun): Record<string, any> {
  assert.ok(
    r.stdout.trim().startsWith("{"),
    `expected JSON on stdout, got: ${r.stdout.slice(0, 300)}\n${r.stderr.slice(-2000)}`,
  );
  return JSON.parse(r.stdout) as Record<string, any>;
}

/**
 * Server-side apply of a CRD as raw JSON. client-node's typed API would not do: its serializer knows the schema's
 * `x-kubernetes-preserve-unknown-fields` only by its TypeScript name and drops it from plain objects, and the API
 * server then prunes every field of the custom resources (seen here: each Gateway's spec stored as {}).
 */
async function applyCrd(kc: k8s.KubeConfig, body: { metadata: { name: string } }): Promise<void> {
  const opts: https.RequestOptions = { method: "PATCH", headers: { "content-type": "application/apply-patch+yaml" } };
  await kc.applyToHTTPSOptions(opts);
  const server = kc.getCurrentCluster()?.server ?? "";
  const url = new URL(
    `${server}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${body.metadata.name}?fieldManager=imctl-test&force=true`,
  );
  await new Promise<void>((resolve, reject) => {
    const req = https.request(url, opts, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () =>
        (res.statusCode ?? 500) < 300 ? resolve() : reject(new Error(`${res.statusCode}: ${text.slice(0, 300)}`)),
      );
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

let apps: k8s.AppsV1Api;
let custom: k8s.CustomObjectsApi;
let kcAutoscaling: k8s.AutoscalingV2Api;
let core: k8s.CoreV1Api;

async function deployments(): Promise<k8s.V1Deployment[]> {
  return (await apps.listNamespacedDeployment({ namespace: NS })).items;
}

async function namespaceGone(name: string): Promise<boolean> {
  try {
    await core.readNamespace({ name });
    return false;
  } catch (err) {
    return (err as { code?: number }).code === 404;
  }
}

describe("imctl up on the embedded cluster with the real Pulumi engine", { timeout: 900_000 }, () => {
  const stack = stackCopy("embedded-cluster");

  before(async () => {
    const up = await imctl(["cluster", "up", "--json"], env);
    assert.equal(up.exitCode, 0, up.stderr.slice(-3000));
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    kcAutoscaling = kc.makeApiClient(k8s.AutoscalingV2Api);
    core = kc.makeApiClient(k8s.CoreV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    // The operators the stack declares preinstalled: their CRDs, from this repository's own definitions.
    const dir = join(REPO_ROOT, "test", "fixtures", "crds");
    for (const f of readdirSync(dir).filter((n) => n.endsWith(".yaml"))) {
      for (const doc of parseAllDocuments(readFileSync(join(dir, f), "utf8"))) {
        const body = doc.toJS() as { metadata: { name: string } } | null;
        if (body) await applyCrd(kc, body);
      }
    }
  });

  after(async () => {
    // A cluster that would not stop keeps its state directory; otherwise it goes when this process exits.
    const down = await imctl(["cluster", "down", "--yes"], env);
    if (down.exitCode !== 0) {
      keepTempDir(state);
      process.stderr.write(`imctl cluster down failed (exit ${down.exitCode}); state left in ${state}\n`);
    }
  });

  it("up from empty creates the platform and every Deployment is Ready", async () => {
    const r = await imctl(["up", "--stack", stack, "--yes", "--json"], env, 600_000);
    const out = json(r);
    assert.equal(r.exitCode, 0, r.stderr.slice(-3000));
    assert.equal(out.result, "succeeded");
    assert.ok((out.changes.create ?? 0) > 10, `created ${JSON.stringify(out.changes)}`);
    assert.deepEqual(out.policy.violations, []);
    const ds = await deployments();
    for (const svc of ["gateway", "message", "user-center"]) {
      assert.ok(
        ds.some((d) => d.metadata?.name === `${svc}-stable`),
        `${svc}-stable among ${ds.map((d) => d.metadata?.name).join(", ")}`,
      );
    }
    for (const d of ds) assert.equal(d.status?.readyReplicas ?? 0, d.spec?.replicas ?? 0, `${d.metadata?.name} ready`);
    assert.equal(ds.find((d) => d.metadata?.name === "gateway-stable")?.status?.readyReplicas, 2);
    const ns = await core.readNamespace({ name: NS });
    assert.equal(ns.metadata?.labels?.["pod-security.kubernetes.io/enforce"], "restricted");
    // The edge's ?token= refusal routes, as the API server stored them (this cluster's Gateway API CRDs are the
    // permissive fixtures and no controller runs here: real-node.test.ts checks the upstream CRDs and Traefik).
    for (const [svc, path] of [
      ["gateway", "/ws"],
      ["user-center", "/v1"],
    ] as const) {
      const route = (await custom.getNamespacedCustomObject({
        group: "gateway.networking.k8s.io",
        version: "v1",
        plural: "httproutes",
        namespace: NS,
        name: `${svc}-token-refusal`,
      })) as { spec: { rules: Array<{ matches: unknown; filters: unknown }> } };
      assert.deepEqual(route.spec.rules[0]?.matches, [
        {
          path: { type: "PathPrefix", value: path },
          queryParams: [{ type: "RegularExpression", name: "token", value: ".*" }],
        },
      ]);
      assert.deepEqual(route.spec.rules[0]?.filters, [
        {
          type: "URLRewrite",
          urlRewrite: { path: { type: "ReplaceFullPath", replaceFullPath: "/edge/token-in-url" } },
        },
      ]);
    }
  });

  it("a second up changes nothing", async () => {
    const out = json(await imctl(["up", "--stack", stack, "--yes", "--json"], env, 600_000));
    assert.equal(out.result, "succeeded");
    const changed = Object.entries(out.changes as Record<string, number>).filter(([k, n]) => k !== "same" && n > 0);
    assert.deepEqual(changed, []);
    assert.ok(out.changes.same > 10);
  });

  // The stable track's replica count belongs to its autoscaler once created (the program ignores later changes to
  // spec.replicas, so an up never undoes a scale-out); the stack's count moves the autoscaler's floor. An image
  // change rolls the stable Deployments, and up waits for the new pods.
  it("a changed image and replica floor roll and are awaited", async () => {
    const edited = stackCopy("embedded-cluster", (s) => {
      s.kubernetes.image.tag = "0.1.1";
      s.services.gateway.replicas = 3;
    });
    const out = json(await imctl(["up", "--stack", edited, "--yes", "--json"], env, 600_000));
    assert.equal(out.result, "succeeded");
    assert.ok((out.changes.update ?? 0) >= 3, JSON.stringify(out.changes));
    const stables = async () =>
      (await deployments()).filter((x) =>
        ["gateway-stable", "message-stable", "user-center-stable"].includes(x.metadata?.name ?? ""),
      );
    // What up awaited: every pod of the new template is there and Ready.
    for (const d of await stables()) {
      const name = d.metadata?.name ?? "";
      assert.match(d.spec?.template.spec?.containers[0]?.image ?? "", /:0\.1\.1$/, name);
      assert.equal(d.status?.updatedReplicas, d.spec?.replicas, `${name} updated`);
      assert.ok((d.status?.readyReplicas ?? 0) >= (d.spec?.replicas ?? 0), `${name} ready`);
    }
    // An old pod may still be terminating when up returns (a clean-clone CI run saw message-stable at 3 Ready of 2):
    // the rollout ends with only the desired count Ready.
    const deadline = Date.now() + 60_000;
    let ds = await stables();
    while (ds.some((d) => d.status?.readyReplicas !== d.spec?.replicas) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      ds = await stables();
    }
    for (const d of ds) assert.equal(d.status?.readyReplicas, d.spec?.replicas, `${d.metadata?.name} ready`);
    const hpa = await kcAutoscaling.readNamespacedHorizontalPodAutoscaler({ name: "gateway", namespace: NS });
    assert.equal(hpa.spec?.minReplicas, 3);
  });

  it("a stack a policy refuses creates nothing", async () => {
    // One gateway replica: im-service-replicas refuses it (a drain would take the only pod).
    const bad = stackCopy("embedded-refused", (s) => {
      s.kubernetes.namespace = "im-refused";
      s.services.gateway.replicas = 1;
    });
    const r = await imctl(["up", "--stack", bad, "--yes", "--json"], env, 600_000);
    const out = json(r);
    assert.equal(r.exitCode, 1);
    assert.equal(out.result, "refused");
    assert.deepEqual(
      out.policy.violations.map((v: { policy: string }) => v.policy),
      ["im-service-replicas"],
    );
    assert.ok(await namespaceGone("im-refused"), "nothing was created");
  });

  it("destroy leaves the cluster without the platform", async () => {
    const r = await imctl(["destroy", "--stack", stack, "--yes", "--json"], env, 600_000);
    const out = json(r);
    assert.equal(r.exitCode, 0, r.stderr.slice(-3000));
    assert.equal(out.result, "succeeded");
    assert.ok((out.changes.delete ?? 0) > 10);
    assert.ok(await namespaceGone(NS), "namespace im is gone");
  });

  // The embedded cluster has no volume provisioner: the in-cluster Redis nodes bind to volumes made here, of a class
  // with no provisioner (what a cluster with static local volumes has).
  it("an in-cluster data stack runs Redis, Strimzi's Kafka and TiDB's objects in im-data, and destroy removes them", async () => {
    const CLASS = "im-embedded-static";
    for (let i = 0; i < 6; i++)
      await core.createPersistentVolume({
        body: {
          metadata: { name: `im-embedded-static-${i}` },
          spec: {
            storageClassName: CLASS,
            capacity: { storage: "1Gi" },
            accessModes: ["ReadWriteOnce"],
            persistentVolumeReclaimPolicy: "Delete",
            hostPath: { path: `/var/lib/im-embedded/${i}` },
          },
        },
      });
    const dataStack = stackCopy("embedded-data", (s) => {
      s.cluster.preinstalled = ["gateway-api", "prometheus-operator", "strimzi", "tidb-operator"];
      s.cluster.data = { mode: "in-cluster", storageClass: CLASS, redisStorageGb: 1, kafkaStorageGb: 10 };
    });
    const r = await imctl(["up", "--stack", dataStack, "--yes", "--json"], env, 600_000);
    const out = json(r);
    assert.equal(r.exitCode, 0, r.stderr.slice(-3000));
    assert.equal(out.result, "succeeded");
    assert.equal(out.outputs?.cluster?.data, "in-cluster");

    // The API server took the operators' objects whole (their CRDs keep unknown fields; nothing was pruned).
    const obj = async (group: string, version: string, plural: string, name: string) =>
      (await custom.getNamespacedCustomObject({ group, version, namespace: "im-data", plural, name })) as {
        spec: Record<string, any>;
      };
    const kafka = await obj("kafka.strimzi.io", "v1beta2", "kafkas", "im-kafka");
    assert.equal(kafka.spec.kafka.rack.topologyKey, "topology.kubernetes.io/zone");
    assert.equal(kafka.spec.kafka.config["min.insync.replicas"], "2");
    const pool = await obj("kafka.strimzi.io", "v1beta2", "kafkanodepools", "brokers");
    assert.deepEqual([pool.spec.replicas, pool.spec.storage.volumes[0].class], [3, CLASS]);
    const topic = await obj("kafka.strimzi.io", "v1beta2", "kafkatopics", "im.message.stored");
    assert.equal(topic.spec.partitions, 6);
    const tidb = await obj("pingcap.com", "v1alpha1", "tidbclusters", "im");
    assert.deepEqual([tidb.spec.pd.replicas, tidb.spec.tikv.replicas, tidb.spec.tidb.replicas], [3, 3, 2]);

    // The program's own Redis Cluster: six nodes Ready on the static volumes, spread over the three zones.
    const redis = await apps.readNamespacedStatefulSet({ name: "redis-cluster", namespace: "im-data" });
    assert.equal(redis.status?.readyReplicas, 6);
    const pods = (
      await core.listNamespacedPod({ namespace: "im-data", labelSelector: "app.kubernetes.io/name=redis-cluster" })
    ).items;
    const zoneOf = new Map(
      (await core.listNode()).items.map((n) => [n.metadata?.name, n.metadata?.labels?.["topology.kubernetes.io/zone"]]),
    );
    const perZone = new Map<string, number>();
    for (const p of pods) {
      const z = zoneOf.get(p.spec?.nodeName) ?? "none";
      perZone.set(z, (perZone.get(z) ?? 0) + 1);
    }
    assert.deepEqual([...perZone.values()], [2, 2, 2], JSON.stringify([...perZone]));

    // The services reach the in-cluster endpoints; the data namespace enforces baseline (operators make its pods).
    const message = await apps.readNamespacedDeployment({ name: "message-stable", namespace: NS });
    const envOf = new Map(message.spec?.template.spec?.containers[0]?.env?.map((e) => [e.name, e.value]));
    assert.equal(envOf.get("KAFKA_BROKERS"), "im-kafka-kafka-bootstrap.im-data.svc:9092");
    assert.equal(envOf.get("DB_HOST"), "im-tidb.im-data.svc");
    assert.match(envOf.get("REDIS_NODES") ?? "", /^redis-cluster-0\.redis-cluster\.im-data\.svc:6379,/);
    // Every client authenticates (issue 21): Redis with requirepass, Strimzi's listeners with SCRAM and a KafkaUser,
    // the services with REDIS_PASSWORD and KAFKA_SASL_* from the Secret im-data-auth, which both namespaces hold.
    assert.deepEqual(
      kafka.spec.kafka.listeners.map((l: { authentication?: { type: string } }) => l.authentication?.type),
      ["scram-sha-512", "scram-sha-512"],
    );
    const user = await obj("kafka.strimzi.io", "v1beta2", "kafkausers", "im-services");
    assert.equal(user.spec.authentication.type, "scram-sha-512");
    assert.ok(redis.spec?.template.spec?.containers[0]?.args?.includes("--requirepass"));
    assert.equal(envOf.get("KAFKA_SASL_MECHANISM"), "SCRAM-SHA-512");
    for (const namespace of [NS, "im-data"]) {
      const auth = await core.readNamespacedSecret({ name: "im-data-auth", namespace });
      assert.deepEqual(Object.keys(auth.data ?? {}).sort(), [
        "KAFKA_SASL_PASSWORD",
        "KAFKA_SASL_USERNAME",
        "REDIS_PASSWORD",
      ]);
    }
    const dataNs = await core.readNamespace({ name: "im-data" });
    assert.equal(dataNs.metadata?.labels?.["pod-security.kubernetes.io/enforce"], "baseline");

    const again = json(await imctl(["up", "--stack", dataStack, "--yes", "--json"], env, 600_000));
    assert.deepEqual(
      Object.entries(again.changes as Record<string, number>).filter(([k, n]) => k !== "same" && n > 0),
      [],
    );

    const down = await imctl(["destroy", "--stack", dataStack, "--yes", "--json"], env, 600_000);
    assert.equal(down.exitCode, 0, down.stderr.slice(-3000));
    assert.ok(await namespaceGone("im-data"), "namespace im-data is gone");
    assert.ok(await namespaceGone(NS), "namespace im is gone");
  });
});
