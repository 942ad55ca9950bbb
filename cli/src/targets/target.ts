/**
 * What each workflow sees of a target, one capability per workflow: RolloutTarget (imctl rollout), DrillTarget
 * (imctl drill), HealthTarget (imctl doctor), BandwidthTarget (imctl bandwidth); PlatformLifecycle (imctl local)
 * is in lifecycle.ts. Workflows are written once against these; `local` supervises processes and nginx weights on
 * this machine, `kubernetes` patches Deployments, Services and ingress weights through the Kubernetes API.
 *
 * Commands get a capability from `openTarget` (open.ts); a target that cannot offer one throws a UserError naming
 * what is missing (never a silent no-op). A capability grows by a method with its own JSDoc.
 */
import type { DatabaseRestoreResult, FaultHandle, FaultPlan, FaultSpec } from "./faults.ts";

export type TargetKind = "local" | "kubernetes";

export type ServiceName = "gateway" | "message" | "user-center";
export const SERVICE_NAMES: readonly ServiceName[] = ["gateway", "message", "user-center"];

/** One running instance of a service (a process on the local target, a pod on kubernetes). */
export interface Instance {
  /** e.g. "gateway-2", "gateway-canary-1", or a pod name. */
  id: string;
  service: ServiceName;
  /** The version the instance reports (its /readyz and x-im-version header). */
  version: string;
  role: "stable" | "canary";
  /** http://host:port of the instance itself (health, metrics, admin routes). */
  endpoint: string;
  ready: boolean;
}

/** A data-tier or platform component that is not one of the services (redis-1, kafka-2, mariadb, nginx, ...). */
export interface ComponentHealth {
  id: string;
  group: string;
  healthy: boolean;
  detail: string;
}

/** A platform-wide check of a health report. */
export interface PlatformCheck {
  name: string;
  ok: boolean;
  detail: string;
  /**
   * A passing check that still deserves a look ("warn": a cordoned node, an autoscaler without metrics) or only
   * informs ("info": what was not checked, and why). Neither makes the report unhealthy. Default: none.
   */
  note?: "warn" | "info";
}

export interface HealthReport {
  healthy: boolean;
  components: ComponentHealth[];
  /**
   * Platform-wide checks: Redis cluster state and replica sync, Kafka ISR, schema, scrape targets (local); disruption
   * budgets, autoscalers, pods, nodes and volume claims (kubernetes).
   */
  checks: PlatformCheck[];
}

/** One Prometheus sample of an instant query. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** One series of a range query: [unix seconds, value] pairs. */
export interface Series {
  labels: Record<string, string>;
  points: Array<[number, number]>;
}

export interface Edge {
  /** http://host:port of the load balancer (account API under /v1/). */
  http: string;
  /** ws://host:port/ws, where clients connect. */
  ws: string;
}

/** A gateway instance's egress bandwidth cap (bandwidth workflow). */
export interface GatewayCap {
  instance: string;
  /** The cap the instance enforces now, bytes per second. */
  bytesPerSecond: number;
}

/**
 * What `imctl bandwidth upgrade` backs up before it changes capacity, and restores on rollback: the live caps and
 * whatever the target persists so a restarted instance keeps its cap.
 */
export interface ConfigSnapshot {
  takenAt: string;
  target: TargetKind;
  gatewayCaps: GatewayCap[];
  /** Caps recorded for restarts, by instance (null: none recorded, the stack's value applies). */
  persistedCaps: Record<string, number> | null;
}

/** A filesystem that holds the platform's data (doctor's disk check). */
export interface DataFilesystem {
  /** What lives there, e.g. "state dir /work/main/.imctl" or a volume's claim. */
  what: string;
  freeBytes: number;
  sizeBytes: number;
}

/** A certificate the platform serves or stores, as read now (doctor's certificate check). */
export interface CertificateFact {
  /** What holds it: an endpoint ("<name> <host>:<port>") or a Secret ("secret <namespace>/<name>"). */
  endpoint: string;
  /** Undefined when the certificate could not be read; `error` says why. */
  validTo?: Date;
  /** Whether this machine trusts its chain; undefined when not judged (a certificate read from a Secret). */
  trusted?: boolean;
  error?: string;
}

/** A TLS endpoint the platform serves, whose certificate must not expire unnoticed (doctor's certificate check). */
export interface TlsEndpoint {
  name: string;
  host: string;
  port: number;
  /** SNI name when it differs from `host`. */
  servername?: string;
}

/** The canary track of a service as a rollout sees it. */
export interface CanaryStatus {
  /** The version the stable track runs. */
  stableVersion: string;
  /** The canary's version, or null when the service has no canary. */
  version: string | null;
  replicas: number;
  ready: number;
  /** Percent of new connections (requests) sent to the canary. */
  weight: number;
}

/** A version to run: the image tag (kubernetes) or the SERVICE_VERSION label (local), and extra environment. */
export interface ReleaseSpec {
  version: string;
  /** Extra environment of the new version's instances, e.g. a setting it must be started with. Default none. */
  env: Record<string, string>;
}

/**
 * Progressive delivery of one service (`imctl rollout`): a second set of instances on the new version beside
 * the stable ones, and the share of traffic they get. Every step is idempotent, so a resumed rollout may repeat it.
 */
export interface CanaryTrack {
  /** Throws a UserError when the target cannot run a canary of `service`; changes nothing. */
  supports(service: ServiceName): void;
  /**
   * Throws a UserError when the track cannot act now (the platform is down, the service's objects are missing);
   * changes nothing.
   */
  preflight(service: ServiceName): Promise<void>;
  status(service: ServiceName): Promise<CanaryStatus>;
  /** Starts (or updates) `replicas` canary instances on `release` at weight 0; resolves once they are ready. */
  deploy(service: ServiceName, release: ReleaseSpec, replicas: number, progress: (line: string) => void): Promise<void>;
  /** Sends `weight` percent (0 to 100) of new connections to the canary. Established WebSockets stay where they are. */
  setWeight(service: ServiceName, weight: number): Promise<void>;
  /**
   * Weight 0, then the canary instances stopped: gateways drain (clients are told to reconnect, land on the
   * stable instances and pull, so nothing is lost). Used by abort.
   */
  remove(service: ServiceName, progress: (line: string) => void): Promise<void>;
  /** The canary's release becomes the stable one (stable instances replaced with drain), then the canary is removed. */
  promote(service: ServiceName, progress: (line: string) => void): Promise<void>;
  /** Puts the stable track back on the release before the last promotion (`imctl rollout undo`); returns it. */
  undo(service: ServiceName, progress: (line: string) => void): Promise<ReleaseSpec>;
}

/** What every capability shares: which target, where its workflows keep state, and one workflow at a time. */
export interface TargetBase {
  readonly kind: TargetKind;
  /** Where workflows keep their persisted state (rollouts, drills, bandwidth plans, audit log). */
  readonly stateDir: string;
  /**
   * Runs `fn` while holding the target's workflow lock: two workflows never run on one target at once.
   * Re-entrant within one process (a drill that repairs the platform through `local up` keeps its lock).
   */
  withLock<T>(command: string, fn: () => Promise<T>): Promise<T>;
}

/** The target's Prometheus. */
export interface Metrics {
  /** Prometheus instant query. */
  query(promql: string): Promise<Sample[]>;
}

/** The target's Prometheus, with range queries (charts and audits over time). */
export interface RangeMetrics extends Metrics {
  /** Prometheus range query, `stepSeconds` apart. */
  queryRange(promql: string, startUnix: number, endUnix: number, stepSeconds: number): Promise<Series[]>;
}

/** `imctl rollout`: the canary tracks of the services (progressive delivery) and the metrics its analysis reads. */
export interface RolloutTarget extends TargetBase, Metrics {
  canary(): CanaryTrack;
}

/** `imctl drill`: fault injection under a message probe, and the database restore drill. */
export interface DrillTarget extends TargetBase, Metrics {
  /** The stack file the target was brought up from. */
  readonly stack: string;
  /** Where the probe's clients connect. */
  edge(): Edge;
  /** Every component and platform check; `healthy` only when all pass (the drill's steady state). */
  health(): Promise<HealthReport>;
  /** Checks a fault against the stack alone (the instance exists and fits the fault); touches nothing. */
  checkFault(spec: FaultSpec): void;
  /** What a fault would hit now (the current Redis primary, the busiest broker or gateway); touches nothing. */
  planFault(spec: FaultSpec): Promise<FaultPlan>;
  /** Injects a planned fault; the handle's `restore()` undoes it and brings the platform back (idempotent). */
  injectFault(plan: FaultPlan, drillId: string, progress: (line: string) => void): Promise<FaultHandle>;
  /** Back up the database, destroy it, restore it, verify row counts and checksums; destructive. */
  databaseRestoreDrill(progress: (line: string) => void): Promise<DatabaseRestoreResult>;
  /** Removes what an interrupted drill's partition left behind (its traffic rules), by drill id; idempotent. */
  healPartition(drillId: string): Promise<void>;
  /** Lets the services write again after an interrupted restore drill left them refusing writes; idempotent. */
  allowWrites(): Promise<void>;
  /** Brings every component back up (what an interrupted drill stopped), as `imctl local up` does. */
  repair(progress: (line: string) => void): Promise<void>;
}

/** `imctl doctor`: the daily health check; reads, never changes anything. */
export interface HealthTarget extends Metrics {
  readonly kind: TargetKind;
  /** Every component and platform check; `healthy` only when all pass. */
  health(): Promise<HealthReport>;
  /** Filesystems holding the platform's data: the state directory locally, the data volumes on kubernetes. */
  dataFilesystems(): Promise<DataFilesystem[]>;
  /**
   * Every certificate whose expiry the doctor judges, read now: the certificates the local target's TLS endpoints
   * present (none today), the `kubernetes.io/tls` Secrets of the platform's namespaces on kubernetes. An unreadable
   * one is a fact with an `error`, not a thrown error.
   */
  certificateFacts(): Promise<CertificateFact[]>;
  /**
   * Where the doctor's Prometheus queries go (for its messages), or null when the target has no Prometheus to ask
   * (a kubernetes stack without kubernetes.prometheus): the metric checks are then skipped with an info row.
   */
  metricsSource(): string | null;
}

/**
 * `imctl group`: the sub-groups of large groups (docs/groups.md), through the services' internal routes: on the local
 * target at the instances' own ports, on kubernetes through the API server's service proxy (never the Gateway).
 */
export interface GroupTarget extends TargetBase, Metrics {
  /**
   * Where a move's analysis reads the sub-groups' fan-out lag (for messages), or null when the target has no
   * Prometheus to ask (a kubernetes stack without kubernetes.prometheus): grow and rebalance then refuse to start.
   */
  metricsSource(): string | null;
  /** A group's sub-groups as the platform reports them (unchecked data: the command parses it), or null: no group. */
  groupStatus(groupId: string): Promise<unknown>;
  /**
   * One step of a group move (docs/groups.md): read it (`get`), plan it with `{ subGroups }`, switch or roll back one
   * batch with `{ limit }`, finish it. Unchecked data (the command parses it); a refusal is a GroupMoveRefusal.
   */
  groupMove(groupId: string, step: GroupMoveStep, body?: Record<string, unknown>): Promise<unknown>;
}

export type GroupMoveStep = "get" | "plan" | "switch" | "finish" | "rollback";

/** The platform refused a move step (HTTP 4xx/503 with its error code and message). */
export class GroupMoveRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** `imctl bandwidth`: the gateways' egress caps, their backup, and the traffic history behind audits and plans. */
export interface BandwidthTarget extends TargetBase, RangeMetrics {
  /** The stack file the target was brought up from. */
  readonly stack: string;
  /** Where clients connect (the upgrade's canary check sends through it). */
  edge(): Edge;
  /** Every gateway instance's current egress cap, read from the instance itself. */
  gatewayCaps(): Promise<GatewayCap[]>;
  /** Sets one gateway's egress cap at run time and records it so a restart keeps it. */
  setGatewayCap(instance: string, bytesPerSecond: number): Promise<void>;
  /** The configuration an upgrade changes, for its backup. */
  snapshotConfig(): Promise<ConfigSnapshot>;
  /** Puts a backup back: live caps and recorded caps exactly as they were. */
  restoreConfig(snapshot: ConfigSnapshot): Promise<void>;
}
