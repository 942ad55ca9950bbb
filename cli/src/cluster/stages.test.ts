import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { KWOK_NODE_ANNOTATION, NODE_ALLOCATABLE, ZONES } from "./layout.ts";
import { HEARTBEAT_MS, nodeManifests, renderStages } from "./stages.ts";

interface Stage {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    resourceRef: { apiGroup: string; kind: string };
    selector: { matchExpressions: Array<{ key: string; operator: string; values?: string[] }> };
    delay?: { durationMilliseconds: number; jitterDurationMilliseconds: number };
    next: { statusTemplate?: string; delete?: boolean; finalizers?: { empty: boolean } };
    immediateNextStage?: boolean;
  };
}

const stages = parseAllDocuments(renderStages())
  .map((d) => d.toJS() as Stage | null)
  .filter((s): s is Stage => s !== null);
const byName = new Map(stages.map((s) => [s.metadata.name, s]));
const stage = (name: string): Stage => {
  const s = byName.get(name);
  assert.ok(s, `no stage ${name}`);
  return s;
};

describe("kwok stages", () => {
  it("renders the five stages as kwok Stage documents", () => {
    assert.deepEqual(
      stages.map((s) => [s.metadata.name, s.spec.resourceRef.kind]),
      [
        ["imctl-node-initialise", "Node"],
        ["imctl-node-heartbeat", "Node"],
        ["imctl-pod-ready", "Pod"],
        ["imctl-pod-complete", "Pod"],
        ["imctl-pod-delete", "Pod"],
      ],
    );
    for (const s of stages) {
      assert.equal(s.apiVersion, "kwok.x-k8s.io/v1alpha1");
      assert.equal(s.kind, "Stage");
      assert.equal(s.spec.resourceRef.apiGroup, "v1");
    }
  });

  it("initialises a node that is not Ready with Ready conditions, addresses and the allocatable", () => {
    const s = stage("imctl-node-initialise");
    assert.deepEqual(s.spec.selector.matchExpressions[0]?.operator, "NotIn");
    const t = s.spec.next.statusTemplate ?? "";
    assert.match(t, /- type: Ready\n\s+status: "True"/);
    assert.match(t, /type: InternalIP/);
    assert.match(t, new RegExp(`cpu: "${NODE_ALLOCATABLE.cpu}"`));
    assert.match(t, new RegExp(`memory: "${NODE_ALLOCATABLE.memory}"`));
    assert.match(t, new RegExp(`pods: "${NODE_ALLOCATABLE.pods}"`));
  });

  it("renews a Ready node's heartbeat inside the 40 s grace period", () => {
    const s = stage("imctl-node-heartbeat");
    assert.equal(s.spec.delay?.durationMilliseconds, HEARTBEAT_MS);
    assert.ok((s.spec.delay?.jitterDurationMilliseconds ?? 0) < 40_000);
    assert.equal(s.spec.immediateNextStage, true);
    assert.match(s.spec.next.statusTemplate ?? "", /lastHeartbeatTime: \{\{ \$now \| Quote \}\}/);
  });

  it("makes a pod Running and Ready with container statuses and a pod IP, never one being deleted", () => {
    const s = stage("imctl-pod-ready");
    const keys = s.spec.selector.matchExpressions.map((e) => `${e.key} ${e.operator}`);
    assert.deepEqual(keys, [".metadata.deletionTimestamp DoesNotExist", ".status.podIP DoesNotExist"]);
    const t = s.spec.next.statusTemplate ?? "";
    for (const want of [/phase: Running/, /podIP: \{\{ PodIPWith/, /containerStatuses:/, /ready: true/])
      assert.match(t, want);
  });

  it("lets only a Job's running pods succeed, and removes pods being deleted", () => {
    const c = stage("imctl-pod-complete");
    assert.ok(
      c.spec.selector.matchExpressions.some((e) => e.key.includes("ownerReferences") && e.values?.[0] === "Job"),
    );
    assert.match(c.spec.next.statusTemplate ?? "", /phase: Succeeded/);
    const d = stage("imctl-pod-delete");
    assert.deepEqual(d.spec.selector.matchExpressions, [{ key: ".metadata.deletionTimestamp", operator: "Exists" }]);
    assert.deepEqual(d.spec.next, { finalizers: { empty: true }, delete: true });
  });
});

describe("simulated nodes", () => {
  it("one per zone, labelled like cloud nodes, annotated for kwok", () => {
    const nodes = nodeManifests();
    assert.deepEqual(
      nodes.map((n) => n.metadata.labels["topology.kubernetes.io/zone"]),
      [...ZONES],
    );
    for (const n of nodes) {
      assert.equal(n.metadata.labels["kubernetes.io/os"], "linux");
      assert.equal(n.metadata.labels.type, "kwok");
      assert.ok(n.metadata.labels["node.kubernetes.io/instance-type"]);
      assert.equal(n.metadata.annotations[KWOK_NODE_ANNOTATION], "fake");
    }
  });
});
