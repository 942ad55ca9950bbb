import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UserError } from "../../errors.ts";
import { requireFaultOn, TARGET_FAULTS, type FaultSpec } from "../faults.ts";
import { TARGET_MESSAGES } from "../messages.ts";
import {
  busiestNode,
  chooseZone,
  DRILL_LABEL,
  drainable,
  drillLabelValue,
  evictAll,
  killCount,
  partitionPolicy,
  pickPods,
  WorkloadWatch,
  zoneSpread,
  zonesWithPods,
  type EvictOutcome,
  type NodeView,
  type PodView,
  type WorkloadView,
} from "./kube-faults.ts";

const pod = (name: string, o: Partial<PodView> = {}): PodView => ({
  namespace: "im",
  name,
  uid: `uid-${name}`,
  node: "kwok-zone-a",
  labels: { "app.kubernetes.io/name": name.split("-")[0] ?? "", "im/track": "stable" },
  owner: "ReplicaSet",
  mirror: false,
  ready: true,
  terminating: false,
  completed: false,
  ...o,
});
const node = (name: string, zone: string, o: Partial<NodeView> = {}): NodeView => ({
  name,
  zone,
  ready: true,
  unschedulable: false,
  simulated: true,
  annotations: {},
  ...o,
});
const workload = (service: string, o: Partial<WorkloadView> = {}): WorkloadView => ({
  kind: "Deployment",
  name: `${service}-stable`,
  namespace: "im",
  service,
  selector: { "app.kubernetes.io/name": service, "im/track": "stable" },
  desired: 3,
  ready: 3,
  updated: 3,
  generation: 1,
  observedGeneration: 1,
  ...o,
});

describe("pod-kill picks", () => {
  const pods = ["gateway-stable-a", "gateway-stable-b", "gateway-stable-c", "gateway-stable-d"];

  it("a 50 % kill takes half the pods, rounded down and at least one, the same ones for the same seed", () => {
    assert.equal(killCount(4, 50), 2);
    assert.equal(killCount(3, 50), 1);
    assert.equal(killCount(2, 50), 1);
    assert.equal(killCount(1, 10), 1);
    assert.equal(killCount(5, 100), 5);
    assert.equal(killCount(0, 50), 0);
    assert.equal(killCount(7, undefined), 1);
    const a = pickPods(pods, 50, 42);
    assert.equal(a.length, 2);
    assert.deepEqual(pickPods([...pods].reverse(), 50, 42), a, "the pick does not depend on the list's order");
    assert.deepEqual(a, ["gateway-stable-a", "gateway-stable-d"], "seed 42's pick, pinned: it must not drift");
    for (const p of a) assert.ok(pods.includes(p));
    assert.equal(new Set(a).size, a.length);
  });

  it("every pod is picked by some seed", () => {
    const seen = new Set(Array.from({ length: 100 }, (_, i) => pickPods(pods, undefined, i)[0]));
    assert.equal(seen.size, pods.length);
  });
});

describe("node-drain", () => {
  it("drains the Ready node running the most platform pods (ties by name)", () => {
    const nodes = [node("kwok-zone-a", "zone-a"), node("kwok-zone-b", "zone-b"), node("im-node-real", "zone-a")];
    const pods = [
      pod("gateway-1", { node: "kwok-zone-b" }),
      pod("message-1", { node: "kwok-zone-b" }),
      pod("gateway-2", { node: "kwok-zone-a" }),
      pod("message-2", { node: "kwok-zone-a" }),
      pod("user-1", { node: "im-node-real", terminating: true }),
    ];
    assert.equal(busiestNode(pods, nodes), "kwok-zone-a");
    assert.equal(busiestNode([...pods, pod("user-2", { node: "kwok-zone-b" })], nodes), "kwok-zone-b");
    assert.equal(
      busiestNode(
        pods,
        nodes.map((n) => ({ ...n, ready: n.name !== "kwok-zone-a" })),
      ),
      "kwok-zone-b",
    );
    assert.equal(busiestNode([], nodes), undefined);
  });

  it("evicts what kubectl drain would: no DaemonSet, mirror, completed or unmanaged pods", () => {
    const { evict, skipped } = drainable([
      pod("gateway-1"),
      pod("node-exporter-1", { owner: "DaemonSet" }),
      pod("kube-apiserver-1", { owner: "Node", mirror: true }),
      pod("migrate-1", { owner: "Job", completed: true }),
      pod("bare-1", { owner: null }),
      pod("message-1", { owner: "StatefulSet" }),
    ]);
    assert.deepEqual(
      evict.map((p) => p.name),
      ["gateway-1", "message-1"],
    );
    assert.deepEqual(
      skipped.map((s) => s.why),
      ["DaemonSet pod", "mirror pod", "completed", "no controller would replace it"],
    );
  });

  it("retries a 429 (the PodDisruptionBudget forbids it now) with backoff, and reports it blocked at the bound", async () => {
    const calls = new Map<string, number>();
    // gateway-1: refused twice, then allowed (its replacement became Ready); message-1: refused for good; user-1: gone.
    const api = async (_ns: string, name: string): Promise<EvictOutcome> => {
      const n = (calls.get(name) ?? 0) + 1;
      calls.set(name, n);
      if (name === "gateway-1") return n <= 2 ? "blocked" : "evicted";
      if (name === "message-1") return "blocked";
      return "gone";
    };
    const fake = () => {
      const f = { clock: 0, waits: [] as number[] };
      return {
        f,
        o: {
          boundMs: 10_000,
          now: () => f.clock,
          sleep: async (ms: number) => {
            f.waits.push(ms);
            f.clock += ms;
          },
          stopped: () => false,
        },
      };
    };
    const evicted: string[] = [];
    const a = fake();
    const r = await evictAll([pod("gateway-1"), pod("user-1")], api, {
      ...a.o,
      onEvicted: (p) => evicted.push(p.name),
    });
    assert.deepEqual(r, { evicted: ["im/gateway-1"], blocked: [], failed: [] });
    assert.deepEqual(evicted, ["gateway-1"], "a pod already gone is not counted as evicted");
    assert.equal(calls.get("gateway-1"), 3);
    assert.deepEqual(a.f.waits, [1000, 2000]);
    // Refused for good: 1 s, 2 s, 4 s, then the next wait (5 s, the cap) would pass the 10 s bound.
    const b = fake();
    const blocked = await evictAll([pod("message-1")], api, b.o);
    assert.deepEqual(blocked, { evicted: [], blocked: [{ pod: "im/message-1", attempts: 4 }], failed: [] });
    assert.deepEqual(b.f.waits, [1000, 2000, 4000]);
    assert.equal(calls.get("message-1"), 4);
  });

  it("stops retrying when the drill restores, and reports an API error as failed, never as evicted", async () => {
    let stop = false;
    const r = await evictAll(
      [pod("gateway-1"), pod("message-1")],
      async (_ns, name) => {
        if (name === "message-1") throw new Error("500 Internal Server Error");
        stop = true;
        return "blocked";
      },
      { boundMs: 60_000, now: () => 0, sleep: async () => undefined, stopped: () => stop },
    );
    assert.deepEqual(r.blocked, [{ pod: "im/gateway-1", attempts: 1 }]);
    assert.deepEqual(r.failed, [{ pod: "im/message-1", error: "500 Internal Server Error" }]);
    assert.deepEqual(r.evicted, []);
  });
});

describe("zone-loss", () => {
  const nodes = [node("kwok-zone-a", "zone-a"), node("kwok-zone-b", "zone-b"), node("kwok-zone-c", "zone-c")];

  it("picks among the zones that hold platform pods, by seed", () => {
    const pods = [pod("gateway-1", { node: "kwok-zone-c" }), pod("gateway-2", { node: "kwok-zone-a" })];
    assert.deepEqual(zonesWithPods(pods, nodes), ["zone-a", "zone-c"]);
    const picks = new Set(Array.from({ length: 50 }, (_, i) => chooseZone(zonesWithPods(pods, nodes), i)));
    assert.deepEqual([...picks].sort(), ["zone-a", "zone-c"]);
    assert.equal(chooseZone(["zone-c", "zone-a"], 9), chooseZone(["zone-a", "zone-c"], 9));
    assert.equal(chooseZone([], 1), undefined);
  });

  it("the spread verdict: the fewest Ready per service over desired, kept when >= 2/3 for every service", () => {
    const s = zoneSpread("zone-b", [
      { workload: "Deployment/gateway-stable", service: "gateway", desired: 3, minReady: 2, readyAtEnd: 3 },
      { workload: "Deployment/message-stable", service: "message", desired: 3, minReady: 2, readyAtEnd: 3 },
      { workload: "Deployment/gateway-canary", service: "gateway", desired: 0, minReady: 0, readyAtEnd: 0 },
    ]);
    assert.equal(s.kept, true);
    assert.equal(s.rule, "kept >= 2/3 of Ready replicas");
    assert.deepEqual(s.services, [
      { service: "gateway", desired: 3, minReady: 2, fraction: 0.667 },
      { service: "message", desired: 3, minReady: 2, fraction: 0.667 },
    ]);
    const lost = zoneSpread("zone-b", [
      { workload: "Deployment/gateway-stable", service: "gateway", desired: 3, minReady: 1, readyAtEnd: 3 },
    ]);
    assert.equal(lost.kept, false);
    // Exactly 2/3 of 6 is kept; 3 of 5 is not (0.6).
    assert.equal(zoneSpread("z", [{ workload: "a", service: "a", desired: 6, minReady: 4, readyAtEnd: 6 }]).kept, true);
    assert.equal(
      zoneSpread("z", [{ workload: "a", service: "a", desired: 5, minReady: 3, readyAtEnd: 5 }]).kept,
      false,
    );
  });
});

describe("partition", () => {
  it("is an ingress policy on the `to` pods allowing every pod but the `from` ones, labelled with the drill id", () => {
    const p = partitionPolicy("partition-20261206-014500-ab12", "im", "gateway", "message") as any;
    assert.equal(p.kind, "NetworkPolicy");
    assert.equal(p.apiVersion, "networking.k8s.io/v1");
    assert.equal(p.metadata.namespace, "im");
    assert.equal(p.metadata.name, "imctl-drill-partition-20261206-014500-ab12");
    assert.equal(p.metadata.labels[DRILL_LABEL], "partition-20261206-014500-ab12");
    assert.deepEqual(p.spec.podSelector, { matchLabels: { "app.kubernetes.io/name": "message" } });
    assert.deepEqual(p.spec.policyTypes, ["Ingress"]);
    assert.deepEqual(p.spec.ingress, [
      {
        from: [
          {
            podSelector: {
              matchExpressions: [{ key: "app.kubernetes.io/name", operator: "NotIn", values: ["gateway"] }],
            },
          },
          {
            namespaceSelector: {
              matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["im"] }],
            },
          },
        ],
      },
    ]);
    assert.equal(p.spec.egress, undefined, "egress is untouched");
  });

  it("makes a valid label value of any drill id", () => {
    assert.equal(drillLabelValue("a".repeat(80)).length, 63);
    assert.equal(drillLabelValue("-x y-"), "x-y");
  });
});

describe("WorkloadWatch", () => {
  const before = [pod("gateway-a"), pod("gateway-b"), pod("gateway-c")];

  it("detects the first disturbance, recovers once the workload is back at desired without its victims", () => {
    const w = workload("gateway");
    const watch = new WorkloadWatch([w], before);
    watch.victim(before[0] as PodView, [w]);
    // The status has not caught up yet: 3/3 Ready, but the victim is terminating. Not recovered.
    const stale = [pod("gateway-a", { terminating: true }), before[1] as PodView, before[2] as PodView];
    assert.deepEqual(watch.observe({ atMs: 100, workloads: [w], pods: stale }), []);
    assert.equal(watch.recoveredAt, null);
    const notes = watch.observe({
      atMs: 600,
      workloads: [{ ...w, ready: 2 }],
      pods: [...stale, pod("gateway-d", { ready: false })],
    });
    assert.deepEqual(notes, [{ atMs: 600, what: "gateway-stable: 2/3 Ready", detects: true }]);
    assert.equal(watch.detectedAt, 600);
    const back = [before[1] as PodView, before[2] as PodView, pod("gateway-d")];
    assert.deepEqual(watch.observe({ atMs: 4000, workloads: [w], pods: back }), [
      { atMs: 4000, what: "gateway-stable back at 3/3 Ready" },
    ]);
    assert.equal(watch.recoveredAt, 4000);
    assert.deepEqual(watch.counts(), [
      { workload: "Deployment/gateway-stable", service: "gateway", desired: 3, minReady: 2, readyAtEnd: 3 },
    ]);
  });

  it("counts a replacement pod as the controller noticing, even if the status never showed the dip", () => {
    const w = workload("gateway");
    const watch = new WorkloadWatch([w], before);
    watch.victim(before[0] as PodView, [w]);
    const pods = [before[1] as PodView, before[2] as PodView, pod("gateway-d")];
    const notes = watch.observe({ atMs: 300, workloads: [w], pods });
    assert.equal(notes[0]?.what, "gateway-stable: replacement pod created");
    assert.equal(watch.recoveredAt, 300);
  });

  it("workloads without victims are counted, not waited for", () => {
    const g = workload("gateway");
    const m = workload("message", { ready: 3 });
    const watch = new WorkloadWatch([g, m], before);
    assert.equal(watch.hasVictims(), false);
    watch.observe({ atMs: 1, workloads: [g, { ...m, ready: 1 }], pods: before });
    assert.equal(watch.recoveredAt, null);
    assert.equal(watch.counts()[1]?.minReady, 1);
  });
});

describe("faults per target", () => {
  const spec = (o: Partial<FaultSpec>): FaultSpec => ({
    fault: "pod-kill",
    kafkaMode: "hard",
    instance: undefined,
    partitionSeconds: 10,
    seed: 1,
    percent: undefined,
    workload: undefined,
    force: false,
    zone: undefined,
    from: undefined,
    to: undefined,
    ...o,
  });
  const refused = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof UserError);
      return err.message;
    }
    return assert.fail("expected a UserError");
  };

  it("a fault the target cannot inject is one line naming the fault, the target and what it allows", () => {
    assert.equal(
      refused(() => requireFaultOn("local", spec({ fault: "zone-loss" }))),
      TARGET_MESSAGES.faultNotOnTarget("zone-loss", "local", TARGET_FAULTS.local),
    );
    assert.equal(
      refused(() => requireFaultOn("kubernetes", spec({ fault: "redis-primary" }))),
      "fault redis-primary: the kubernetes target cannot inject it (the data tier is outside the cluster); allowed " +
        "on kubernetes: pod-kill, node-drain, zone-loss, partition, gateway-instance, message-instance, " +
        "user-center-instance, random-instance",
    );
    assert.equal(
      refused(() => requireFaultOn("local", spec({ fault: "partition", from: "gateway" }))),
      "--from: the local target's partition cuts one component off (allowed: --instance, e.g. redis-1)",
    );
    assert.equal(
      refused(() => requireFaultOn("kubernetes", spec({ fault: "partition", instance: "redis-1" }))),
      "--instance: a partition on kubernetes is between two services (allowed: --from and --to, e.g. --from " +
        "gateway --to message)",
    );
    requireFaultOn("local", spec({ fault: "partition", instance: "redis-1" }));
    requireFaultOn("kubernetes", spec({ fault: "gateway-instance" }));
  });
});
