/**
 * `imctl drill` on the kubernetes target: faults as a chaos engineer expects them on a cluster (Chaos Mesh's
 * PodChaos and NetworkChaos, a node drain, an AWS FIS-style zone loss), each with a handle that undoes it:
 * - pod-kill: delete pods of a Deployment or StatefulSet (one, or --percent of them; graceful or --force); the
 *   gateway-, message-, user-center- and random-instance faults are pod-kills of that service's stable pods here.
 * - node-drain: cordon a node and evict its pods through the Eviction API, which honours PodDisruptionBudgets.
 * - zone-loss: cordon every node of a zone and delete its pods at once: a lost zone honours no budget.
 * - partition: a NetworkPolicy that stops one service's pods reaching another's, removed after --partition-seconds.
 * Recovery is every affected workload back at its desired Ready count (kube-faults.ts, WorkloadWatch); where the
 * probe can reach the edge (drill-edge.ts) it runs as on the local target, and recovery also waits for it.
 */
import { InternalError, UserError } from "../../errors.ts";
import type { DatabaseRestoreResult, FaultHandle, FaultPlan, FaultSpec } from "../faults.ts";
import { TARGET_MESSAGES } from "../messages.ts";
import type { DrillTarget, Edge, HealthReport, Sample, ServiceName } from "../target.ts";
import type { KubernetesAccess } from "./access.ts";
import { clientNodeDrillApi, type DrillApi } from "./drill-api.ts";
import { embeddedEdge, startHostRelay, type HostRelay } from "./drill-edge.ts";
import { KubeFault, type KubePlan } from "./drill-fault.ts";
import {
  atDesired,
  busiestNode,
  chooseZone,
  CORDONED_BY_ANNOTATION,
  DRILL_LABEL,
  drillLabelValue,
  pickPods,
  SERVICE_LABEL,
  selects,
  workloadId,
  zonesWithPods,
  type NodeView,
  type PodView,
  type WorkloadView,
} from "./kube-faults.ts";

export const KUBE_DRILL_MESSAGES = {
  noPrometheus: (stack: string) =>
    `--guard: ${stack} names no kubernetes.prometheus, so there is no metric to watch; allowed: a stack with ` +
    "kubernetes.prometheus, or no --guard",
  workload: (got: string, namespace: string, known: string[]) =>
    `--workload: got ${JSON.stringify(got)}; allowed: a Deployment or StatefulSet with pods in namespace ${namespace} ` +
    `(${known.join(", ") || "none"})`,
  pod: (got: string, what: string, known: string[]) =>
    `--instance: got ${JSON.stringify(got)}; allowed for ${what}: a running pod (${known.slice(0, 8).join(", ") || "none"})`,
  node: (got: string, known: string[]) =>
    `--instance: got ${JSON.stringify(got)}; allowed for node-drain: a node of the cluster (${known.join(", ")})`,
  zone: (got: string, known: string[]) =>
    `--zone: got ${JSON.stringify(got)}; allowed: a zone of the cluster's nodes (${known.join(", ") || "none"})`,
  singleReplica: (service: string, field: string) =>
    `${service} has 1 replica on this stack: killing it is an outage, not a failover; ` +
    `set services.${field}.replicas to 2 or more in the stack file`,
  nothingToHit: (what: string) => `${what}: nothing to hit on this platform (is the stack deployed? imctl up)`,
} as const;

const FIELD: Record<ServiceName, string> = { gateway: "gateway", message: "message", "user-center": "userCenter" };

export async function kubernetesDrillTarget(access: KubernetesAccess): Promise<DrillTarget> {
  return new KubernetesDrill(access, await clientNodeDrillApi(access.kc));
}

export class KubernetesDrill implements DrillTarget {
  readonly kind = "kubernetes" as const;
  readonly stack: string;
  readonly stateDir: string;
  private relay: HostRelay | undefined;
  private readonly plans = new WeakMap<FaultPlan, KubePlan>();

  constructor(
    private readonly access: KubernetesAccess,
    private readonly api: DrillApi,
  ) {
    this.stack = access.stack;
    this.stateDir = access.stateDir;
  }

  private get ns(): string {
    return this.access.namespace;
  }

  withLock<T>(command: string, fn: () => Promise<T>): Promise<T> {
    return this.access.withLock(command, fn);
  }

  query(promql: string): Promise<Sample[]> {
    const p = this.access.prometheus;
    if (p === null) return Promise.reject(new UserError(KUBE_DRILL_MESSAGES.noPrometheus(this.stack)));
    return p.query(promql);
  }

  edge(): Edge {
    if (this.relay === undefined)
      throw new InternalError("kubernetes drill: edge() before planFault() found the edge reachable");
    return this.relay.edge;
  }

  /** The drill's steady state: every workload of the namespace at its desired Ready count, every node Ready. */
  async health(): Promise<HealthReport> {
    let workloads: WorkloadView[];
    let nodes: NodeView[];
    try {
      [workloads, nodes] = await Promise.all([this.api.listWorkloads(this.ns), this.api.listNodes()]);
    } catch (err) {
      const detail = `cannot read the cluster: ${err instanceof Error ? err.message.slice(0, 200) : String(err)}`;
      return { healthy: false, components: [], checks: [{ name: "kubernetes API", ok: false, detail }] };
    }
    const components = [
      ...workloads.map((w) => ({
        id: workloadId(w),
        group: "workloads",
        healthy: atDesired(w),
        detail: `${w.ready}/${w.desired} Ready, ${w.updated} updated`,
      })),
      ...nodes.map((n) => ({
        id: `node/${n.name}`,
        group: "nodes",
        healthy: n.ready && !n.unschedulable,
        detail: `${n.ready ? "Ready" : "NotReady"}${n.unschedulable ? ", cordoned" : ""}${n.zone ? ` (${n.zone})` : ""}`,
      })),
    ];
    const deployed = workloads.some((w) => w.desired > 0);
    const checks = [
      {
        name: "platform deployed",
        ok: deployed,
        detail: deployed
          ? `${workloads.length} workloads in namespace ${this.ns}`
          : `no Deployment or StatefulSet with replicas in namespace ${this.ns} (imctl up --stack ${this.stack})`,
      },
    ];
    return { healthy: deployed && components.every((c) => c.healthy), components, checks };
  }

  /** From the stack alone: a failover fault needs a service with a replica to spare. */
  checkFault(spec: FaultSpec): void {
    const services = this.access.spec.services;
    const instanceOf = /^(gateway|message|user-center)-instance$/.exec(spec.fault)?.[1] as ServiceName | undefined;
    if (instanceOf !== undefined) {
      const field = FIELD[instanceOf] as keyof typeof services;
      if (services[field].replicas < 2)
        throw new UserError(KUBE_DRILL_MESSAGES.singleReplica(instanceOf, FIELD[instanceOf]));
    }
    if (spec.fault === "random-instance" && !Object.values(services).some((s) => s.replicas >= 2))
      throw new UserError(
        "random-instance: no service has 2 replicas or more on this stack, so any kill is an outage, not a failover",
      );
  }

  async planFault(spec: FaultSpec): Promise<FaultPlan> {
    const [workloads, pods, nodes] = await Promise.all([
      this.api.listWorkloads(this.ns),
      this.api.listPods({ namespace: this.ns }),
      this.api.listNodes(),
    ]);
    const live = pods.filter((p) => !p.terminating && !p.completed);
    const { plan, kube } = this.resolve(spec, workloads, live, nodes);
    const probe = await this.probeFor(live, nodes);
    if (probe !== undefined) plan.probeUnavailable = probe;
    this.plans.set(plan, kube);
    return plan;
  }

  private resolve(
    spec: FaultSpec,
    workloads: WorkloadView[],
    pods: PodView[],
    nodes: NodeView[],
  ): { plan: FaultPlan; kube: KubePlan } {
    switch (spec.fault) {
      case "pod-kill":
      case "gateway-instance":
      case "message-instance":
      case "user-center-instance":
      case "random-instance":
        return this.planPods(spec, workloads, pods);
      case "node-drain":
        return this.planDrain(spec, workloads, pods, nodes);
      case "zone-loss":
        return this.planZone(spec, workloads, pods, nodes);
      case "partition": {
        const from = spec.from ?? "gateway";
        const to = spec.to ?? "message";
        const affected = workloads.filter((w) => (w.service === from || w.service === to) && w.desired > 0);
        return {
          plan: {
            fault: spec.fault,
            component: `${from}→${to}`,
            action: "partition",
            seconds: spec.partitionSeconds,
            detail:
              `NetworkPolicy in ${this.ns}: ${to} pods accept no ingress from ${from} pods for ` +
              `${spec.partitionSeconds} s (only a NetworkPolicy-capable CNI enforces it)`,
          },
          kube: { kind: "partition", from, to, seconds: spec.partitionSeconds, affected },
        };
      }
      case "redis-primary":
      case "kafka-broker":
      case "db":
        throw new InternalError(`kubernetes drill: ${spec.fault} reached planFault (requireFaultOn refuses it)`);
    }
  }

  private planPods(spec: FaultSpec, workloads: WorkloadView[], pods: PodView[]): { plan: FaultPlan; kube: KubePlan } {
    const service = /^(gateway|message|user-center)-instance$/.exec(spec.fault)?.[1];
    let victims: PodView[];
    let detail: string;
    let seeded = false;
    const withPods = (w: WorkloadView) => pods.filter((p) => selects(w, p));
    if (spec.fault === "random-instance") {
      const pool = workloads
        .filter((w) => w.name.endsWith("-stable") && w.desired >= 2)
        .flatMap((w) => withPods(w).map((p) => p.name));
      if (pool.length === 0) throw new UserError(KUBE_DRILL_MESSAGES.nothingToHit("random-instance"));
      victims = pods.filter((p) => pickPods(pool, undefined, spec.seed).includes(p.name));
      seeded = true;
      detail = `picked with seed ${spec.seed} from ${pool.length} stable pods`;
    } else if (spec.instance !== undefined) {
      const allowed = service === undefined ? pods : pods.filter((p) => p.labels[SERVICE_LABEL] === service);
      const pod = allowed.find((p) => p.name === spec.instance);
      if (pod === undefined)
        throw new UserError(
          KUBE_DRILL_MESSAGES.pod(
            spec.instance,
            spec.fault,
            allowed.map((p) => p.name),
          ),
        );
      victims = [pod];
      detail = "named by --instance";
    } else {
      const name = service !== undefined ? `${service}-stable` : (spec.workload ?? "gateway-stable");
      const w = workloads.find((x) => x.name === name && withPods(x).length > 0);
      if (w === undefined)
        throw new UserError(
          KUBE_DRILL_MESSAGES.workload(
            name,
            this.ns,
            workloads.filter((x) => withPods(x).length > 0).map((x) => x.name),
          ),
        );
      const names = pickPods(
        withPods(w).map((p) => p.name),
        spec.percent,
        spec.seed,
      );
      victims = pods.filter((p) => names.includes(p.name));
      seeded = true;
      const share = spec.percent === undefined ? "" : ` (${spec.percent} %)`;
      detail = `${victims.length} of ${withPods(w).length} pods of ${workloadId(w)}${share}, picked with seed ${spec.seed}`;
    }
    const graceSeconds = spec.force ? 0 : undefined;
    const how = spec.force ? "gracePeriodSeconds 0" : "with its grace period";
    const affected = workloads.filter((w) => victims.some((p) => selects(w, p)));
    const plan: FaultPlan = {
      fault: spec.fault,
      component: victims.length === 1 ? (victims[0]?.name ?? "") : (affected[0]?.name ?? ""),
      action: spec.force ? "kill" : "terminate",
      detail: `delete pod ${victims.map((p) => p.name).join(", ")} ${how} (${detail})`,
    };
    if (seeded) plan.seed = spec.seed;
    return { plan, kube: { kind: "pods", pods: victims, graceSeconds, affected } };
  }

  private planDrain(
    spec: FaultSpec,
    workloads: WorkloadView[],
    pods: PodView[],
    nodes: NodeView[],
  ): { plan: FaultPlan; kube: KubePlan } {
    const node = spec.instance ?? busiestNode(pods, nodes);
    if (node === undefined) throw new UserError(KUBE_DRILL_MESSAGES.nothingToHit("node-drain"));
    if (!nodes.some((n) => n.name === node))
      throw new UserError(
        KUBE_DRILL_MESSAGES.node(
          node,
          nodes.map((n) => n.name),
        ),
      );
    const mine = pods.filter((p) => p.node === node);
    const affected = workloads.filter((w) => mine.some((p) => selects(w, p)));
    return {
      plan: {
        fault: spec.fault,
        component: node,
        action: "drain",
        detail:
          `cordon node ${node} and evict its pods through the Eviction API (${mine.length} platform pods; ` +
          "PodDisruptionBudgets honoured, DaemonSet and mirror pods skipped)",
      },
      kube: { kind: "drain", node, affected },
    };
  }

  private planZone(
    spec: FaultSpec,
    workloads: WorkloadView[],
    pods: PodView[],
    nodes: NodeView[],
  ): { plan: FaultPlan; kube: KubePlan } {
    const all = [...new Set(nodes.flatMap((n) => (n.zone === null ? [] : [n.zone])))].sort();
    const zone = spec.zone ?? chooseZone(zonesWithPods(pods, nodes), spec.seed);
    if (zone === undefined) throw new UserError(KUBE_DRILL_MESSAGES.nothingToHit("zone-loss"));
    if (!all.includes(zone)) throw new UserError(KUBE_DRILL_MESSAGES.zone(zone, all));
    const inZone = nodes.filter((n) => n.zone === zone).map((n) => n.name);
    const plan: FaultPlan = {
      fault: spec.fault,
      component: zone,
      action: "zone-loss",
      detail:
        `zone ${zone} lost: cordon its nodes (${inZone.join(", ")}) and delete their pods at once ` +
        "(gracePeriodSeconds 0: a lost zone honours no PodDisruptionBudget)",
    };
    if (spec.zone === undefined) plan.seed = spec.seed;
    // Every service counts: the verdict is what each kept, whether or not it had a pod in the zone.
    const affected = workloads.filter((w) => w.desired > 0);
    return { plan, kube: { kind: "zone", zone, nodes: inZone, affected } };
  }

  /** Why the probe cannot run here, or undefined once its relay to the edge is up. */
  private async probeFor(pods: PodView[], nodes: NodeView[]): Promise<string | undefined> {
    const edge = embeddedEdge(this.access.spec);
    if ("unreachable" in edge) return `${edge.unreachable}: recovery is judged on workload counts alone`;
    const simulated = new Set(nodes.filter((n) => n.simulated).map((n) => n.name));
    const gateways = pods.filter((p) => p.labels[SERVICE_LABEL] === "gateway");
    if (gateways.length > 0 && gateways.every((p) => p.node !== null && simulated.has(p.node)))
      return (
        "the gateway's pods are on simulated (kwok) nodes, where nothing runs or answers: recovery is judged on " +
        "workload counts alone"
      );
    this.relay ??= await startHostRelay(edge);
    return undefined;
  }

  async injectFault(plan: FaultPlan, drillId: string, progress: (line: string) => void): Promise<FaultHandle> {
    const kube = this.plans.get(plan);
    if (kube === undefined) throw new InternalError("kubernetes drill: injectFault() with a plan it did not make");
    const fault = new KubeFault(this.api, this.ns, plan, kube, drillId, progress);
    try {
      return await fault.start();
    } catch (err) {
      // Half injected (a node cordoned, then the API failed): the drill has no handle to restore, so undo it here.
      await fault.restore().catch(() => undefined);
      throw err;
    }
  }

  databaseRestoreDrill(_progress: (line: string) => void): Promise<DatabaseRestoreResult> {
    return Promise.reject(new UserError(TARGET_MESSAGES.drillRestoreKubernetes));
  }

  async healPartition(drillId: string): Promise<void> {
    await this.api.deleteNetworkPolicies(this.ns, `${DRILL_LABEL}=${drillLabelValue(drillId)}`);
  }

  /** Nothing on kubernetes refuses writes: the restore drill, which does that locally, does not run here. */
  async allowWrites(): Promise<void> {}

  /** After an interrupted drill: uncordon the nodes a drill cordoned, remove every drill's NetworkPolicy. */
  async repair(progress: (line: string) => void): Promise<void> {
    for (const n of await this.api.listNodes()) {
      const by = n.annotations[CORDONED_BY_ANNOTATION];
      if (by === undefined) continue;
      await this.api.setUnschedulable(n.name, false, { [CORDONED_BY_ANNOTATION]: null });
      progress(`node ${n.name} uncordoned (cordoned by drill ${by})`);
    }
    await this.api.deleteNetworkPolicies(this.ns, DRILL_LABEL);
  }
}
