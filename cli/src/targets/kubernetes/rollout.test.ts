/**
 * The kubernetes canary track's request sequence against a recording fake of the API: which objects it patches,
 * with what, in which order, and what it waits for. test/integration/rollout-kubernetes.test.ts runs the same track
 * against a real kube-apiserver.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CANARY_WEIGHT_ANNOTATION,
  KubernetesCanaryTrack,
  PREVIOUS_IMAGE_ANNOTATION,
  type DeploymentView,
  type KubeApi,
} from "./rollout.ts";

type Call = { op: string; name: string; body?: unknown };

/** Deployments that become ready as soon as they are patched (like a fast cluster), and every call recorded. */
function fakeCluster(opts: { ingress: boolean }) {
  const calls: Call[] = [];
  const deployments = new Map<string, DeploymentView>();
  const mk = (replicas: number, image: string, version: string): DeploymentView => ({
    generation: 1,
    replicas,
    image,
    env: { SERVICE_VERSION: version, PORT: "8080" },
    annotations: {},
    status: { observedGeneration: 1, replicas, readyReplicas: replicas, updatedReplicas: replicas },
  });
  deployments.set("gateway-stable", mk(3, "registry.example.com:5000/im/gateway:1.0.0", "1.0.0"));
  deployments.set("gateway-canary", mk(0, "registry.example.com:5000/im/gateway:1.0.0", "1.0.0"));
  let annotations: Record<string, string> | null = opts.ingress
    ? { "nginx.ingress.kubernetes.io/canary": "true", [CANARY_WEIGHT_ANNOTATION]: "0" }
    : null;
  const api: KubeApi = {
    async readDeployment(ns, name) {
      assert.equal(ns, "im");
      calls.push({ op: "readDeployment", name });
      const d = deployments.get(name);
      return d ? structuredClone(d) : null;
    },
    async patchDeployment(ns, name, patch) {
      assert.equal(ns, "im");
      calls.push({ op: "patchDeployment", name, body: patch });
      const d = deployments.get(name);
      if (!d) throw new Error("404");
      const p = patch as {
        metadata?: { annotations?: Record<string, string> };
        spec?: {
          replicas?: number;
          template?: { spec: { containers: Array<{ image: string; env: Array<{ name: string; value: string }> }> } };
        };
      };
      const replicas = p.spec?.replicas ?? d.replicas;
      const c = p.spec?.template?.spec.containers[0];
      const env = c ? { ...d.env, ...Object.fromEntries(c.env.map((e) => [e.name, e.value])) } : d.env;
      deployments.set(name, {
        generation: d.generation + 1,
        replicas,
        image: c?.image ?? d.image,
        env,
        annotations: { ...d.annotations, ...p.metadata?.annotations },
        status: { observedGeneration: d.generation + 1, replicas, readyReplicas: replicas, updatedReplicas: replicas },
      });
    },
    async readIngressAnnotations(_ns, name) {
      calls.push({ op: "readIngress", name });
      return annotations;
    },
    async patchIngressAnnotations(_ns, name, a) {
      calls.push({ op: "patchIngress", name, body: a });
      annotations = { ...annotations, ...a };
    },
  };
  const writes = () =>
    calls.filter((c) => c.op.startsWith("patch")).map((c) => ({ op: c.op, name: c.name, body: c.body }));
  return { api, calls, deployments, writes, weight: () => annotations?.[CANARY_WEIGHT_ANNOTATION] };
}

const quiet = () => undefined;

test("deploy patches the canary Deployment (image from the stable's repository, version, extra env, replicas) at weight 0 and waits for it", async () => {
  const k = fakeCluster({ ingress: true });
  const t = new KubernetesCanaryTrack(k.api, { namespace: "im", pollMs: 1 });
  await t.deploy("gateway", { version: "1.1.0", env: { GATEWAY_FAULT_LATENCY_MS: "500" } }, 2, quiet);
  assert.deepEqual(k.writes(), [
    { op: "patchIngress", name: "gateway-canary", body: { [CANARY_WEIGHT_ANNOTATION]: "0" } },
    {
      op: "patchDeployment",
      name: "gateway-canary",
      body: {
        spec: {
          replicas: 2,
          template: {
            spec: {
              containers: [
                {
                  name: "gateway",
                  image: "registry.example.com:5000/im/gateway:1.1.0",
                  env: [
                    { name: "SERVICE_VERSION", value: "1.1.0" },
                    { name: "GATEWAY_FAULT_LATENCY_MS", value: "500" },
                  ],
                },
              ],
            },
          },
        },
      },
    },
  ]);
  // it read the canary back until rolled out
  assert.equal(k.calls.at(-1)?.op, "readDeployment");
  const s = await t.status("gateway");
  assert.deepEqual(s, { stableVersion: "1.0.0", version: "1.1.0", replicas: 2, ready: 2, weight: 0 });
});

test("setWeight patches the ingress-nginx canary-weight annotation; a weight outside 0..100 is refused before any call", async () => {
  const k = fakeCluster({ ingress: true });
  const t = new KubernetesCanaryTrack(k.api, { namespace: "im", pollMs: 1 });
  await t.setWeight("gateway", 30);
  assert.deepEqual(k.writes(), [
    { op: "patchIngress", name: "gateway-canary", body: { [CANARY_WEIGHT_ANNOTATION]: "30" } },
  ]);
  await assert.rejects(t.setWeight("gateway", 101), /canaryWeight: got 101; allowed: a whole number from 0 to 100/);
  assert.equal(k.writes().length, 1);
});

test("a service without an Ingress gets its weight as the canary's share of the pods", async () => {
  const k = fakeCluster({ ingress: false });
  const t = new KubernetesCanaryTrack(k.api, { namespace: "im", pollMs: 1 });
  await t.setWeight("gateway", 25); // 3 stable pods: 1 canary pod is 25 %
  assert.deepEqual(k.writes(), [{ op: "patchDeployment", name: "gateway-canary", body: { spec: { replicas: 1 } } }]);
  assert.equal((await t.status("gateway")).weight, 25);
});

test("remove (abort): weight 0 first, then the canary scaled to 0 (its pods drain), then waits until they are gone", async () => {
  const k = fakeCluster({ ingress: true });
  const t = new KubernetesCanaryTrack(k.api, { namespace: "im", pollMs: 1 });
  await t.deploy("gateway", { version: "1.1.0", env: {} }, 1, quiet);
  await t.setWeight("gateway", 30);
  const before = k.writes().length;
  await t.remove("gateway", quiet);
  assert.deepEqual(k.writes().slice(before), [
    { op: "patchIngress", name: "gateway-canary", body: { [CANARY_WEIGHT_ANNOTATION]: "0" } },
    { op: "patchDeployment", name: "gateway-canary", body: { spec: { replicas: 0 } } },
  ]);
  assert.equal(k.weight(), "0");
  assert.equal(k.deployments.get("gateway-canary")?.status.replicas, 0);
});

test(
  "promote: all traffic to the canary, a rolling update of stable to the canary's image (previous one recorded), " +
    "then the canary removed; undo goes back",
  async () => {
    const k = fakeCluster({ ingress: true });
    const t = new KubernetesCanaryTrack(k.api, { namespace: "im", pollMs: 1 });
    await t.deploy("gateway", { version: "1.1.0", env: {} }, 1, quiet);
    const before = k.writes().length;
    await t.promote("gateway", quiet);
    const w = k.writes().slice(before);
    assert.deepEqual(
      w.map((x) => `${x.op} ${x.name}`),
      [
        "patchIngress gateway-canary",
        "patchDeployment gateway-stable",
        "patchIngress gateway-canary",
        "patchDeployment gateway-canary",
      ],
    );
    assert.deepEqual(w[0]?.body, { [CANARY_WEIGHT_ANNOTATION]: "100" });
    const stable = k.deployments.get("gateway-stable");
    assert.equal(stable?.image, "registry.example.com:5000/im/gateway:1.1.0");
    assert.equal(stable?.env.SERVICE_VERSION, "1.1.0");
    assert.equal(stable?.annotations[PREVIOUS_IMAGE_ANNOTATION], "registry.example.com:5000/im/gateway:1.0.0|1.0.0");
    assert.equal(k.weight(), "0");
    assert.equal(k.deployments.get("gateway-canary")?.replicas, 0);
    const back = await t.undo("gateway", quiet);
    assert.equal(back.version, "1.0.0");
    assert.equal(k.deployments.get("gateway-stable")?.image, "registry.example.com:5000/im/gateway:1.0.0");
  },
);

test("a missing Deployment is a one-line error naming it", async () => {
  const k = fakeCluster({ ingress: true });
  k.deployments.delete("gateway-canary");
  const t = new KubernetesCanaryTrack(k.api, { namespace: "im", pollMs: 1 });
  await assert.rejects(
    t.deploy("gateway", { version: "1.1.0", env: {} }, 1, quiet),
    /deployment im\/gateway-canary not found/,
  );
});
