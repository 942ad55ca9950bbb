/**
 * The pure part of the kubernetes faults (no API calls, no clock of its own): which pods a pod-kill hits, which node
 * a drain empties and which pods it may evict, which zone a zone-loss takes, the NetworkPolicy of a partition, the
 * eviction loop that honours PodDisruptionBudgets (a 429 is retried with backoff up to a bound), and the watch that
 * turns workload snapshots into detection, recovery and the report's counts. `drill.ts` feeds it the cluster.
 */
import { rng } from "../../../../base/prng.ts";
import type { ServiceName } from "../target.ts";
import type { WorkloadCount, ZoneSpread } from "../faults.ts";

/** The zone label every cloud (and the embedded cluster) puts on its nodes. */
export const ZONE_LABEL = "topology.kubernetes.io/zone";
/** The label infra/services/im-service.ts gives every object of a service. */
export const SERVICE_LABEL = "app.kubernetes.io/name";
/** What a drill's NetworkPolicy carries, valued with the drill id, so healPartition finds exactly its own. */
export const DRILL_LABEL = "imctl.im-platform.io/drill";
/** On a node the drill cordoned (and only then), so restore and repair uncordon what the drill did and nothing else. */
export const CORDONED_BY_ANNOTATION = "imctl.im-platform.io/cordoned-by-drill";

export interface PodView {
  namespace: string;
  name: string;
  uid: string;
  node: string | null;
  labels: Record<string, string>;
  /** The controller's kind (ReplicaSet, StatefulSet, DaemonSet, Job, Node for a mirror pod), or null: unmanaged. */
  owner: string | null;
  /** A static pod the kubelet mirrors into the API (kubernetes.io/config.mirror annotation). */
  mirror: boolean;
  /** Ready condition True. */
  ready: boolean;
  /** Has a deletionTimestamp. */
  terminating: boolean;
  /** Succeeded or Failed: nothing left to evict. */
  completed: boolean;
}

export interface NodeView {
  name: string;
  zone: string | null;
  ready: boolean;
  unschedulable: boolean;
  /** A kwok node: its pods do not run (docs/embedded-cluster.md). */
  simulated: boolean;
  annotations: Record<string, string>;
}

export interface WorkloadView {
  kind: "Deployment" | "StatefulSet";
  name: string;
  namespace: string;
  /** The service it runs (app.kubernetes.io/name), or its own name. */
  service: string;
  selector: Record<string, string>;
  desired: number;
  ready: number;
  updated: number;
  generation: number;
  observedGeneration: number;
}

export const workloadId = (w: Pick<WorkloadView, "kind" | "name">) => `${w.kind}/${w.name}`;

/** Whether the workload's selector (matchLabels) selects the pod. */
export function selects(w: WorkloadView, pod: PodView): boolean {
  const entries = Object.entries(w.selector);
  return pod.namespace === w.namespace && entries.length > 0 && entries.every(([k, v]) => pod.labels[k] === v);
}

export function workloadOf(pod: PodView, workloads: readonly WorkloadView[]): WorkloadView | undefined {
  return workloads.find((w) => selects(w, pod));
}

/** A workload at its desired Ready count, with every replica on the current template. */
export function atDesired(w: WorkloadView): boolean {
  return w.ready >= w.desired && w.updated >= w.desired && w.observedGeneration >= w.generation;
}

/**
 * How many pods a pod-kill of `percent` deletes out of `total`: rounded down, as Chaos Mesh's fixed-percent mode,
 * and at least one (a kill that kills nothing is no drill). Undefined percent: one pod.
 */
export function killCount(total: number, percent: number | undefined): number {
  if (total === 0) return 0;
  if (percent === undefined) return 1;
  return Math.min(total, Math.max(1, Math.floor((total * percent) / 100)));
}

/**
 * The pods a pod-kill deletes: `killCount` of them, by a seeded shuffle of the names in sorted order, so the same
 * seed against the same pods picks the same ones again.
 */
export function pickPods(names: readonly string[], percent: number | undefined, seed: number): string[] {
  const sorted = [...names].sort();
  const r = rng(seed);
  for (let i = sorted.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [sorted[i], sorted[j]] = [sorted[j] as string, sorted[i] as string];
  }
  return sorted.slice(0, killCount(sorted.length, percent));
}

/** The Ready node running the most of `pods` (ties: the first by name), or undefined when none runs any. */
export function busiestNode(pods: readonly PodView[], nodes: readonly NodeView[]): string | undefined {
  const count = new Map<string, number>();
  for (const p of pods) if (p.node !== null && !p.terminating) count.set(p.node, (count.get(p.node) ?? 0) + 1);
  const ranked = nodes
    .filter((n) => n.ready && (count.get(n.name) ?? 0) > 0)
    .sort((a, b) => (count.get(b.name) ?? 0) - (count.get(a.name) ?? 0) || a.name.localeCompare(b.name));
  return ranked[0]?.name;
}

/** The zones whose nodes run any of `pods`, sorted. */
export function zonesWithPods(pods: readonly PodView[], nodes: readonly NodeView[]): string[] {
  const zoneOf = new Map(nodes.map((n) => [n.name, n.zone]));
  const zones = new Set<string>();
  for (const p of pods) {
    const z = p.node === null ? null : (zoneOf.get(p.node) ?? null);
    if (z !== null) zones.add(z);
  }
  return [...zones].sort();
}

/** A zone-loss's zone: the one asked for, or a seeded pick among the zones that hold platform pods. */
export function chooseZone(zones: readonly string[], seed: number): string | undefined {
  return zones.length === 0 ? undefined : rng(seed).pick([...zones].sort());
}

/**
 * What a drain may evict, as `kubectl drain` decides: not DaemonSet pods (their controller ignores cordons and would
 * put them back), not mirror pods (the kubelet owns them), not completed pods, and not unmanaged pods (nothing would
 * replace them: kubectl asks for --force; a drill leaves them and says so).
 */
export function drainable(pods: readonly PodView[]): {
  evict: PodView[];
  skipped: Array<{ pod: string; why: string }>;
} {
  const evict: PodView[] = [];
  const skipped: Array<{ pod: string; why: string }> = [];
  for (const p of pods) {
    const id = `${p.namespace}/${p.name}`;
    if (p.mirror || p.owner === "Node") skipped.push({ pod: id, why: "mirror pod" });
    else if (p.owner === "DaemonSet") skipped.push({ pod: id, why: "DaemonSet pod" });
    else if (p.completed) skipped.push({ pod: id, why: "completed" });
    else if (p.terminating) skipped.push({ pod: id, why: "already terminating" });
    else if (p.owner === null) skipped.push({ pod: id, why: "no controller would replace it" });
    else evict.push(p);
  }
  return { evict, skipped };
}

/** The Eviction API (policy/v1) as a drain sees it: evicted, already gone (404), or refused by a PDB for now (429). */
export type EvictOutcome = "evicted" | "gone" | "blocked";
export type Evict = (namespace: string, name: string) => Promise<EvictOutcome>;

export interface EvictOptions {
  /** First wait after a 429, doubled up to maxBackoffMs. Defaults 1 s and 5 s (kubectl drain retries every 5 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Give up on a pod a PDB keeps refusing after this long. */
  boundMs: number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Stop retrying (the drill restores). */
  stopped: () => boolean;
  onEvicted?: (pod: PodView) => void;
}

export interface EvictResult {
  evicted: string[];
  /** Refused by a PodDisruptionBudget until the bound (or the restore). */
  blocked: Array<{ pod: string; attempts: number }>;
  failed: Array<{ pod: string; error: string }>;
}

/**
 * Evicts every pod, in parallel as kubectl drain does. A 429 means a PodDisruptionBudget forbids it now (its
 * replacement elsewhere is not Ready yet): retried with backoff until `boundMs`, then reported as blocked. The
 * budget is the cluster's to enforce; the drill never deletes a pod the API refused to evict.
 */
export async function evictAll(pods: readonly PodView[], evict: Evict, o: EvictOptions): Promise<EvictResult> {
  const deadline = o.now() + o.boundMs;
  const out: EvictResult = { evicted: [], blocked: [], failed: [] };
  await Promise.all(
    pods.map(async (p) => {
      const id = `${p.namespace}/${p.name}`;
      let wait = o.initialBackoffMs ?? 1000;
      for (let attempts = 1; ; attempts++) {
        let r: EvictOutcome;
        try {
          r = await evict(p.namespace, p.name);
        } catch (err) {
          out.failed.push({ pod: id, error: err instanceof Error ? err.message : String(err) });
          return;
        }
        if (r !== "blocked") {
          if (r === "evicted") {
            out.evicted.push(id);
            o.onEvicted?.(p);
          }
          return;
        }
        if (o.stopped() || o.now() + wait > deadline) {
          out.blocked.push({ pod: id, attempts });
          return;
        }
        await o.sleep(wait);
        wait = Math.min(wait * 2, o.maxBackoffMs ?? 5000);
      }
    }),
  );
  out.evicted.sort();
  out.blocked.sort((a, b) => a.pod.localeCompare(b.pod));
  return out;
}

/** A label value of the drill id (63 characters at most, alphanumerics, '-', '_', '.'). */
export function drillLabelValue(drillId: string): string {
  return drillId
    .replace(/[^A-Za-z0-9_.-]/g, "-")
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
}

/**
 * The partition as a NetworkPolicy. NetworkPolicy has no deny rule: it selects the `to` pods (which makes them
 * isolated for ingress) and allows ingress from every pod of the namespace *not* labelled as `from`
 * (matchExpressions NotIn, which also matches pods without the label) and from every other namespace. So only the
 * `from` pods lose their way in; egress is untouched. Enforcement is the CNI's: one without NetworkPolicy support
 * (the embedded cluster's bridge plugin) accepts the object and enforces nothing.
 */
export function partitionPolicy(
  drillId: string,
  namespace: string,
  from: ServiceName,
  to: ServiceName,
): Record<string, unknown> {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name: `imctl-drill-${drillLabelValue(drillId)}`.slice(0, 253).toLowerCase(),
      namespace,
      labels: { [DRILL_LABEL]: drillLabelValue(drillId), "app.kubernetes.io/managed-by": "imctl" },
      annotations: { "imctl.im-platform.io/partition": `${from} -> ${to}` },
    },
    spec: {
      podSelector: { matchLabels: { [SERVICE_LABEL]: to } },
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [
            { podSelector: { matchExpressions: [{ key: SERVICE_LABEL, operator: "NotIn", values: [from] }] } },
            {
              namespaceSelector: {
                matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: [namespace] }],
              },
            },
          ],
        },
      ],
    },
  };
}

/** One watch of the workloads: their status and their pods, at one moment. */
export interface WorkloadSnapshot {
  atMs: number;
  workloads: readonly WorkloadView[];
  pods: readonly PodView[];
}

interface Tracked {
  id: string;
  service: string;
  desired: number;
  minReady: number;
  readyAtEnd: number;
  /** Pod uids before the fault: a pod not among them is a replacement. */
  before: Set<string>;
  /** Pods the fault deleted or evicted. */
  victims: Set<string>;
  disturbed: boolean;
  recovered: boolean;
}

/**
 * Detection and recovery from workload snapshots. A workload the fault took pods from is *disturbed* once it is
 * seen below its desired Ready count or its controller made a replacement pod, and *recovered* once it is back at
 * its desired Ready count, updated, with that many Ready pods that are not the fault's victims (so a status not yet
 * updated after the deletion never counts as recovered). Detection is the first disturbance; recovery the moment
 * every workload with victims has recovered.
 */
export class WorkloadWatch {
  private readonly tracked = new Map<string, Tracked>();
  detectedAt: number | null = null;
  recoveredAt: number | null = null;

  constructor(affected: readonly WorkloadView[], podsBefore: readonly PodView[]) {
    for (const w of affected)
      this.tracked.set(workloadId(w), {
        id: workloadId(w),
        service: w.service,
        desired: w.desired,
        minReady: Math.min(w.ready, w.desired),
        readyAtEnd: w.ready,
        before: new Set(podsBefore.filter((p) => selects(w, p)).map((p) => p.uid)),
        victims: new Set(),
        disturbed: false,
        recovered: false,
      });
  }

  /** The fault deleted or evicted this pod of a tracked workload. */
  victim(pod: PodView, workloads: readonly WorkloadView[]): void {
    const w = workloadOf(pod, workloads);
    const t = w === undefined ? undefined : this.tracked.get(workloadId(w));
    if (t === undefined) return;
    t.victims.add(pod.uid);
    t.recovered = false;
    this.recoveredAt = null;
  }

  /** Takes one snapshot in; returns what changed, as the drill's notes (`detects` on the first disturbance). */
  observe(s: WorkloadSnapshot): Array<{ atMs: number; what: string; detects?: boolean }> {
    const notes: Array<{ atMs: number; what: string; detects?: boolean }> = [];
    for (const w of s.workloads) {
      const t = this.tracked.get(workloadId(w));
      if (t === undefined) continue;
      const pods = s.pods.filter((p) => selects(w, p) && !p.terminating);
      const replaced = pods.some((p) => !t.before.has(p.uid));
      const readyPods = pods.filter((p) => p.ready && !t.victims.has(p.uid)).length;
      const below = w.ready < w.desired;
      t.minReady = Math.min(t.minReady, w.ready);
      t.readyAtEnd = w.ready;
      if (t.victims.size === 0) continue;
      if (!t.disturbed && (below || replaced)) {
        t.disturbed = true;
        const what = below ? `${w.name}: ${w.ready}/${w.desired} Ready` : `${w.name}: replacement pod created`;
        notes.push({ atMs: s.atMs, what, detects: this.detectedAt === null });
        this.detectedAt ??= s.atMs;
      }
      const back = t.disturbed && atDesired(w) && readyPods >= w.desired;
      if (back && !t.recovered) notes.push({ atMs: s.atMs, what: `${w.name} back at ${w.ready}/${w.desired} Ready` });
      t.recovered = back;
    }
    const hit = [...this.tracked.values()].filter((t) => t.victims.size > 0);
    if (hit.length > 0 && hit.every((t) => t.recovered)) this.recoveredAt ??= s.atMs;
    return notes;
  }

  /** Whether the fault took any pod (a drain whose every eviction a PDB refused took none). */
  hasVictims(): boolean {
    return [...this.tracked.values()].some((t) => t.victims.size > 0);
  }

  counts(): WorkloadCount[] {
    return [...this.tracked.values()].map((t) => ({
      workload: t.id,
      service: t.service,
      desired: t.desired,
      minReady: t.minReady,
      readyAtEnd: t.readyAtEnd,
    }));
  }
}

/**
 * The zone-loss verdict: per service (its workloads summed), the fewest Ready replicas seen as a fraction of
 * desired; kept when every service kept at least 2/3 (compared in integers: 3 × ready >= 2 × desired).
 */
export function zoneSpread(zone: string, counts: readonly WorkloadCount[]): ZoneSpread {
  const by = new Map<string, { desired: number; minReady: number }>();
  for (const c of counts) {
    if (c.desired === 0) continue;
    const s = by.get(c.service) ?? { desired: 0, minReady: 0 };
    by.set(c.service, { desired: s.desired + c.desired, minReady: s.minReady + c.minReady });
  }
  const services = [...by.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([service, s]) => ({
      service,
      desired: s.desired,
      minReady: s.minReady,
      fraction: Math.round((1000 * s.minReady) / s.desired) / 1000,
    }));
  return {
    zone,
    rule: "kept >= 2/3 of Ready replicas",
    kept: services.every((s) => 3 * s.minReady >= 2 * s.desired),
    services,
  };
}
