/**
 * One injected kubernetes fault (drill.ts plans it): the watch of its workloads from before the action to the end of
 * the restore, the action itself (pods deleted, a node cordoned and drained, a zone's nodes cordoned and their pods
 * deleted, a NetworkPolicy created), and the restore that undoes exactly what it did (the nodes it cordoned, its own
 * policy) and waits for every affected workload to be back at its desired Ready count.
 */
import { sleep } from "../../../../base/sleep.ts";
import type { FaultFindings, FaultHandle, FaultPlan } from "../faults.ts";
import type { ServiceName } from "../target.ts";
import type { DrillApi } from "./drill-api.ts";
import {
  CORDONED_BY_ANNOTATION,
  DRILL_LABEL,
  drainable,
  drillLabelValue,
  evictAll,
  partitionPolicy,
  WorkloadWatch,
  workloadId,
  zoneSpread,
  type EvictResult,
  type PodView,
  type WorkloadView,
} from "./kube-faults.ts";

/** How long a drain keeps retrying an eviction a PodDisruptionBudget refuses (kubectl drain has no bound by default). */
export const EVICTION_BOUND_MS = 60_000;
/** How long the restore waits for every affected workload to be back at its desired Ready count. */
export const RESTORE_WAIT_MS = 180_000;
/** Between two reads of the workloads while a fault is on. */
const WATCH_MS = 500;

/** What a plan means on the cluster, kept beside the FaultPlan the drill command sees. */
export type KubePlan =
  | { kind: "pods"; pods: PodView[]; graceSeconds: number | undefined; affected: WorkloadView[] }
  | { kind: "drain"; node: string; affected: WorkloadView[] }
  | { kind: "zone"; zone: string; nodes: string[]; affected: WorkloadView[] }
  | { kind: "partition"; from: ServiceName; to: ServiceName; seconds: number; affected: WorkloadView[] };

/** One injected kubernetes fault: the watch of its workloads, the action, and its restore. */
export class KubeFault implements FaultHandle {
  readonly notes: FaultHandle["notes"] = [];
  private readonly injectedAt = Date.now();
  private watch!: WorkloadWatch;
  /** Set once the watch exists: a restore before that has nothing to undo. */
  private watchStarted = false;
  private workloads: WorkloadView[] = [];
  private watching = true;
  private watchLoop: Promise<void> = Promise.resolve();
  private stopped = false;
  private restored: Promise<void> | undefined;
  private readonly cordoned: string[] = [];
  private evictions: Promise<EvictResult> | undefined;
  private evicted: EvictResult | undefined;
  private skipped: string[] = [];
  private deleted: string[] = [];
  private healTimer: NodeJS.Timeout | undefined;
  private healing: Promise<void> | undefined;
  private policy: string | undefined;

  constructor(
    private readonly api: DrillApi,
    private readonly ns: string,
    readonly plan: FaultPlan,
    private readonly kube: KubePlan,
    private readonly drillId: string,
    private readonly progress: (line: string) => void,
  ) {}

  private note(what: string, detects?: boolean): void {
    this.notes.push({ atMs: Date.now(), what, ...(detects === true ? { detects } : {}) });
  }

  async start(): Promise<this> {
    const [workloads, pods] = await Promise.all([
      this.api.listWorkloads(this.ns),
      this.api.listPods({ namespace: this.ns }),
    ]);
    this.workloads = workloads;
    const affected = new Set(this.kube.affected.map(workloadId));
    this.watch = new WorkloadWatch(
      workloads.filter((w) => affected.has(workloadId(w))),
      pods,
    );
    this.watchStarted = true;
    this.watchLoop = this.watchWorkloads();
    const k = this.kube;
    switch (k.kind) {
      case "pods":
        for (const p of k.pods) {
          this.watch.victim(p, this.workloads);
          await this.api.deletePod(p.namespace, p.name, k.graceSeconds);
          this.progress(`deleted pod ${p.namespace}/${p.name}`);
        }
        break;
      case "drain":
        await this.cordon(k.node);
        await this.drain(k.node);
        break;
      case "zone":
        for (const n of k.nodes) await this.cordon(n);
        for (const n of k.nodes) await this.loseNode(n);
        this.note(`zone ${k.zone}: ${this.deleted.length} pods deleted, ${k.nodes.length} node(s) cordoned`);
        break;
      case "partition": {
        const body = partitionPolicy(this.drillId, this.ns, k.from, k.to);
        this.policy = String((body.metadata as { name: string }).name);
        await this.api.createNetworkPolicy(this.ns, body);
        this.note(`NetworkPolicy ${this.policy} created (enforced: unknown, the CNI's to enforce)`);
        this.healTimer = setTimeout(() => {
          this.healing = this.removePolicy()
            .then(() => this.note(`NetworkPolicy ${this.policy ?? ""} removed: partition healed`))
            .catch((err: unknown) => this.note(`could not remove the NetworkPolicy: ${String(err)}`));
        }, k.seconds * 1000);
        break;
      }
    }
    return this;
  }

  private async cordon(node: string): Promise<void> {
    const n = (await this.api.listNodes()).find((x) => x.name === node);
    // A node someone else cordoned stays theirs: the restore uncordons only what the drill cordoned.
    if (n?.unschedulable === true) return;
    await this.api.setUnschedulable(node, true, { [CORDONED_BY_ANNOTATION]: this.drillId });
    this.cordoned.push(node);
    this.note(`node ${node} cordoned`);
    this.progress(`node ${node} cordoned`);
  }

  private async drain(node: string): Promise<void> {
    const { evict, skipped } = drainable(await this.api.listPods({ node }));
    this.skipped = skipped.map((s) => `${s.pod} (${s.why})`);
    let refusedOnce = false;
    this.evictions = evictAll(
      evict,
      async (namespace, name) => {
        const r = await this.api.evictPod(namespace, name);
        if (r === "blocked" && !refusedOnce) {
          refusedOnce = true;
          this.note(`eviction of ${namespace}/${name} refused by its PodDisruptionBudget (429): retrying`);
        }
        return r;
      },
      {
        boundMs: EVICTION_BOUND_MS,
        now: Date.now,
        sleep,
        stopped: () => this.stopped,
        onEvicted: (p) => this.watch.victim(p, this.workloads),
      },
    ).then((r) => {
      this.evicted = r;
      const blocked = r.blocked.length ? `, ${r.blocked.length} still refused by a PodDisruptionBudget` : "";
      const failed = r.failed.length ? `, ${r.failed.length} failed (${r.failed[0]?.error.slice(0, 80)})` : "";
      this.note(`drain of ${node}: ${r.evicted.length} evicted${blocked}${failed}`);
      return r;
    });
    // The first round is part of the injection; 429s go on being retried while the drill observes.
    await Promise.race([this.evictions, sleep(2000)]);
  }

  private async loseNode(node: string): Promise<void> {
    const { evict, skipped } = drainable(await this.api.listPods({ node }));
    this.skipped.push(...skipped.map((s) => `${s.pod} (${s.why})`));
    for (const p of evict) {
      this.watch.victim(p, this.workloads);
      await this.api.deletePod(p.namespace, p.name, 0);
      this.deleted.push(`${p.namespace}/${p.name}`);
    }
    this.progress(`node ${node}: ${evict.length} pods deleted`);
  }

  private async removePolicy(): Promise<void> {
    await this.api.deleteNetworkPolicies(this.ns, `${DRILL_LABEL}=${drillLabelValue(this.drillId)}`);
  }

  private async snapshot(): Promise<void> {
    const [workloads, pods] = await Promise.all([
      this.api.listWorkloads(this.ns),
      this.api.listPods({ namespace: this.ns }),
    ]);
    this.workloads = workloads;
    this.notes.push(...this.watch.observe({ atMs: Date.now(), workloads, pods }));
  }

  private async watchWorkloads(): Promise<void> {
    while (this.watching) {
      await this.snapshot().catch(() => undefined);
      await sleep(WATCH_MS);
    }
  }

  platformRecoveredAt(): number | null | undefined {
    if (this.kube.kind === "partition") return undefined;
    // A drain whose every eviction a budget refused took nothing: there is nothing to recover from.
    if (!this.watch.hasVictims())
      return this.kube.kind === "drain" && this.evicted === undefined ? null : this.injectedAt;
    return this.watch.recoveredAt;
  }

  findings(): FaultFindings {
    const workloads = this.watch.counts();
    const f: FaultFindings = { workloads };
    if (this.kube.kind === "drain")
      f.evictions = {
        evicted: this.evicted?.evicted ?? [],
        blocked: this.evicted?.blocked ?? [],
        skipped: this.skipped,
      };
    if (this.kube.kind === "zone") {
      f.deleted = this.deleted;
      f.zoneSpread = zoneSpread(this.kube.zone, workloads);
    }
    if (this.kube.kind === "partition")
      f.networkPolicy = {
        namespace: this.ns,
        name: this.policy ?? "",
        enforced: "unknown",
        note:
          "a NetworkPolicy is enforced by the cluster's CNI, if it supports them (the embedded cluster's bridge " +
          "CNI does not); the drill never claims an effect it did not observe: see the probe's figures",
      };
    return f;
  }

  restore(): Promise<void> {
    this.restored ??= this.undo();
    return this.restored;
  }

  private async undo(): Promise<void> {
    this.stopped = true;
    // Restored before start() got as far as the watch (the first API call failed): nothing was done.
    if (!this.watchStarted) return;
    if (this.healTimer !== undefined) clearTimeout(this.healTimer);
    await this.healing;
    await this.evictions;
    if (this.kube.kind === "partition") await this.removePolicy();
    for (const node of this.cordoned) {
      await this.api.setUnschedulable(node, false, { [CORDONED_BY_ANNOTATION]: null });
      this.note(`node ${node} uncordoned`);
      this.progress(`node ${node} uncordoned`);
    }
    const deadline = Date.now() + RESTORE_WAIT_MS;
    while (this.watch.hasVictims() && this.watch.recoveredAt === null && Date.now() < deadline) await sleep(WATCH_MS);
    this.watching = false;
    await this.watchLoop;
    await this.snapshot().catch(() => undefined);
  }
}
