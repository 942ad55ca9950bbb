/**
 * The kubernetes canary track's request sequence against a recording fake of the API: which objects it patches,
 * with what, in which order, and what it waits for; and the HTTPRoute reading and patching on route objects as the
 * API returns them. test/integration/kubernetes/rollout.ts runs the same track against the embedded cluster, where
 * Traefik is the route's controller.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  KubernetesCanaryTrack,
  PREVIOUS_IMAGE_ANNOTATION,
  routeWeightPatch,
  routeWeights,
  type DeploymentView,
  type HttpRoute,
  type KubeApi,
} from "./rollout.ts";

type Call = { op: string; name: string; body?: unknown };

/** Deployments that become ready as soon as they are patched (like a fast cluster), and every call recorded. */
function fakeCluster(opts: { route: boolean; acceptAfterReads?: number }) {
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
  // The route's controller accepts a new generation after `acceptAfterReads` reads (Infinity: never).
  let route = opts.route ? { stable: 100, canary: 0, generation: 1, observed: 1 } : null;
  let readsSinceWrite = 0;
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
    async readRouteWeights(_ns, name, stableService, canaryService) {
      calls.push({ op: "readRoute", name });
      assert.deepEqual([stableService, canaryService], [name, `${name}-canary`]);
      if (route === null) return null;
      if (++readsSinceWrite > (opts.acceptAfterReads ?? 0)) route.observed = route.generation;
      const accepted = route.observed === route.generation;
      return {
        stable: route.stable,
        canary: route.canary,
        generation: route.generation,
        accepted,
        detail: accepted ? "accepted" : "im-gateway Accepted=True at generation 1/2",
      };
    },
    async setRouteWeights(_ns, name, _stableService, _canaryService, w) {
      calls.push({ op: "patchRoute", name, body: w });
      if (route === null) throw new Error("404");
      route = { ...w, generation: route.generation + 1, observed: route.observed };
      readsSinceWrite = 0;
    },
  };
  const writes = () =>
    calls.filter((c) => c.op.startsWith("patch")).map((c) => ({ op: c.op, name: c.name, body: c.body }));
  return { api, calls, deployments, writes, weight: () => route?.canary };
}

const quiet = () => undefined;

test("deploy patches the canary Deployment (image from the stable's repository, version, extra env, replicas) at weight 0 and waits for it", async () => {
  const k = fakeCluster({ route: true });
  const t = new KubernetesCanaryTrack(k.api, { namespace: "im", pollMs: 1 });
  await t.deploy("gateway", { version: "1.1.0", env: { GATEWAY_FAULT_LATENCY_MS: "500" } }, 2, quiet);
  assert.deepEqual(k.writes(), [
    { op: "patchRoute", name: "gateway", body: { stable: 100, canary: 0 } },
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

test(
  "setWeight sets the HTTPRoute's backendRef weights and reads them back until the controller accepted them; " +
    "a weight outside 0..100 is refused before any call",
  async () => {
    const k = fakeCluster({ route: true, acceptAfterReads: 3 });
    const t = new KubernetesCanaryTrack(k.api, { namespace: "im", pollMs: 1 });
    await t.setWeight("gateway", 30);
    assert.deepEqual(k.writes(), [{ op: "patchRoute", name: "gateway", body: { stable: 70, canary: 30 } }]);
    // read back after the write until accepted: the 4th read is the first the controller has seen
    const after = k.calls.slice(k.calls.findIndex((c) => c.op === "patchRoute") + 1);
    assert.equal(after.filter((c) => c.op === "readRoute").length, 4);
    assert.equal((await t.status("gateway")).weight, 30);
    await assert.rejects(t.setWeight("gateway", 101), /canaryWeight: got 101; allowed: a whole number from 0 to 100/);
    assert.equal(k.writes().length, 1);
  },
);

test("a weight the route's controller never accepts fails the step with the controller's last word", async () => {
  const k = fakeCluster({ route: true, acceptAfterReads: Infinity });
  const t = new KubernetesCanaryTrack(k.api, { namespace: "im", pollMs: 1, routeTimeoutMs: 50 });
  await assert.rejects(
    t.setWeight("gateway", 10),
    /httproute im\/gateway: weights 90\/10 \(want 90\/10\), not accepted by its Gateway's controller after 0.05 s: im-gateway Accepted=True at generation 1\/2/,
  );
});

test("a service without a route gets its weight as the canary's share of the pods", async () => {
  const k = fakeCluster({ route: false });
  const t = new KubernetesCanaryTrack(k.api, { namespace: "im", pollMs: 1 });
  await t.setWeight("gateway", 25); // 3 stable pods: 1 canary pod is 25 %
  assert.deepEqual(k.writes(), [{ op: "patchDeployment", name: "gateway-canary", body: { spec: { replicas: 1 } } }]);
  assert.equal((await t.status("gateway")).weight, 25);
});

test("remove (abort): weight 0 first, then the canary scaled to 0 (its pods drain), then waits until they are gone", async () => {
  const k = fakeCluster({ route: true });
  const t = new KubernetesCanaryTrack(k.api, { namespace: "im", pollMs: 1 });
  await t.deploy("gateway", { version: "1.1.0", env: {} }, 1, quiet);
  await t.setWeight("gateway", 30);
  const before = k.writes().length;
  await t.remove("gateway", quiet);
  assert.deepEqual(k.writes().slice(before), [
    { op: "patchRoute", name: "gateway", body: { stable: 100, canary: 0 } },
    { op: "patchDeployment", name: "gateway-canary", body: { spec: { replicas: 0 } } },
  ]);
  assert.equal(k.weight(), 0);
  assert.equal(k.deployments.get("gateway-canary")?.status.replicas, 0);
});

test(
  "promote: all traffic to the canary, a rolling update of stable to the canary's image (previous one recorded), " +
    "then the canary removed; undo goes back",
  async () => {
    const k = fakeCluster({ route: true });
    const t = new KubernetesCanaryTrack(k.api, { namespace: "im", pollMs: 1 });
    await t.deploy("gateway", { version: "1.1.0", env: {} }, 1, quiet);
    const before = k.writes().length;
    await t.promote("gateway", quiet);
    const w = k.writes().slice(before);
    assert.deepEqual(
      w.map((x) => `${x.op} ${x.name}`),
      ["patchRoute gateway", "patchDeployment gateway-stable", "patchRoute gateway", "patchDeployment gateway-canary"],
    );
    assert.deepEqual(w[0]?.body, { stable: 0, canary: 100 });
    const stable = k.deployments.get("gateway-stable");
    assert.equal(stable?.image, "registry.example.com:5000/im/gateway:1.1.0");
    assert.equal(stable?.env.SERVICE_VERSION, "1.1.0");
    assert.equal(stable?.annotations[PREVIOUS_IMAGE_ANNOTATION], "registry.example.com:5000/im/gateway:1.0.0|1.0.0");
    assert.equal(k.weight(), 0);
    assert.equal(k.deployments.get("gateway-canary")?.replicas, 0);
    const back = await t.undo("gateway", quiet);
    assert.equal(back.version, "1.0.0");
    assert.equal(k.deployments.get("gateway-stable")?.image, "registry.example.com:5000/im/gateway:1.0.0");
  },
);

test("a missing Deployment is a one-line error naming it", async () => {
  const k = fakeCluster({ route: true });
  k.deployments.delete("gateway-canary");
  const t = new KubernetesCanaryTrack(k.api, { namespace: "im", pollMs: 1 });
  await assert.rejects(
    t.deploy("gateway", { version: "1.1.0", env: {} }, 1, quiet),
    /deployment im\/gateway-canary not found/,
  );
});

/** An HTTPRoute as infra/services/im-service.ts declares it and a Gateway API controller reports on it. */
function httpRoute(
  generation: number,
  observed: number,
  weights?: [number | undefined, number | undefined],
): HttpRoute {
  const [stable, canary] = weights ?? [90, 10];
  return {
    metadata: { generation },
    spec: {
      rules: [
        {
          backendRefs: [
            { name: "gateway", ...(stable === undefined ? {} : { weight: stable }) },
            { name: "gateway-canary", ...(canary === undefined ? {} : { weight: canary }) },
          ],
        },
      ],
    },
    status: {
      parents: [
        {
          parentRef: { name: "im-gateway" },
          conditions: [
            { type: "Accepted", status: "True", observedGeneration: observed },
            { type: "ResolvedRefs", status: "True", observedGeneration: observed },
          ],
        },
      ],
    },
  };
}

test("routeWeights reads the split and whether the controller accepted this generation", () => {
  assert.deepEqual(routeWeights(httpRoute(4, 4), "gateway", "gateway-canary"), {
    stable: 90,
    canary: 10,
    generation: 4,
    accepted: true,
    detail: "accepted",
  });
  const stale = routeWeights(httpRoute(5, 4), "gateway", "gateway-canary");
  assert.equal(stale?.accepted, false);
  assert.match(stale?.detail ?? "", /im-gateway Accepted=True at generation 4\/5/);
  // Gateway API: a backendRef without a weight weighs 1
  assert.deepEqual([routeWeights(httpRoute(1, 1, [undefined, undefined]), "gateway", "gateway-canary")?.canary], [1]);
  assert.equal(routeWeights(httpRoute(1, 1), "user-center", "user-center-canary"), null);
  const unreported = routeWeights({ ...httpRoute(1, 1), status: {} }, "gateway", "gateway-canary");
  assert.match(unreported?.detail ?? "", /no Gateway has reported on the route/);
});

test("routeWeightPatch guards every replace with a test of the backend's name (a reordered route fails the patch)", () => {
  assert.deepEqual(
    routeWeightPatch(httpRoute(1, 1, [100, undefined]), "gateway", "gateway-canary", { stable: 70, canary: 30 }),
    [
      { op: "test", path: "/spec/rules/0/backendRefs/0/name", value: "gateway" },
      { op: "replace", path: "/spec/rules/0/backendRefs/0/weight", value: 70 },
      { op: "test", path: "/spec/rules/0/backendRefs/1/name", value: "gateway-canary" },
      { op: "add", path: "/spec/rules/0/backendRefs/1/weight", value: 30 },
    ],
  );
});
