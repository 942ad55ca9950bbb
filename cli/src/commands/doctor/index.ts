/**
 * `imctl doctor`: the daily health check. Every component and platform check of the target, replication (Redis
 * replica links and lag, Kafka ISR), alerts firing in Prometheus, the message backlog, free disk where the data
 * lives, and certificate expiry. It reads and never changes anything; the exit code is 1 when any check fails,
 * and the failing components and checks are named.
 */
import { table } from "../../lib/table.ts";
import { openTarget } from "../../targets/open.ts";
import type { HealthTarget as Target, Sample, TargetKind } from "../../targets/target.ts";
import { resolveStack } from "../stack.ts";
import {
  BACKLOG_MAX,
  certificates,
  diskSpace,
  DISK_MIN_FREE_PERCENT,
  firingAlerts,
  healthChecks,
  kafkaReplication,
  messageBacklog,
  redisReplication,
  type CheckStatus,
  type DoctorCheck,
} from "./checks.ts";
import { MESSAGES } from "./messages.ts";

export interface DoctorOptions {
  stack?: string;
  /** Fail when a data filesystem has less free space than this, in percent. Default DISK_MIN_FREE_PERCENT (10). */
  minDiskFree?: number;
  /** Fail when more stored messages than this wait for fan-out. Default BACKLOG_MAX (1,000). */
  maxBacklog?: number;
}

export interface DoctorResult {
  target: TargetKind;
  stack: string;
  checkedAt: string;
  healthy: boolean;
  checks: DoctorCheck[];
  /** Names of the failing components and checks, in table order. */
  failing: string[];
  warnings: string[];
  /**
   * The Prometheus queries behind the replication, alert and backlog checks that ran: all of QUERIES locally, the
   * alerts and backlog on kubernetes, none without a Prometheus.
   */
  prometheusQueries: Partial<typeof QUERIES>;
}

/** The Prometheus queries behind the metric checks (the same series the alert rules read). */
export const QUERIES = {
  alerts: 'ALERTS{alertstate="firing"}',
  redisLinks: 'redis_master_link_up{job="redis"}',
  redisLag: 'redis_connected_slave_lag_seconds{job="redis"}',
  underReplicated: 'kafka_server_replicamanager_value{name="UnderReplicatedPartitions"}',
  underMinIsr: 'kafka_server_replicamanager_value{name="UnderMinIsrPartitionCount"}',
  offline: 'kafka_controller_kafkacontroller_value{name="OfflinePartitionsCount"}',
  backlog: "im_message_consumer_lag",
} as const;

/** The stack's own target, local or kubernetes. */
function targetFor(stackFile: string): Promise<Target> {
  return openTarget({ stack: stackFile }).health();
}

type QueryName = keyof typeof QUERIES;

/**
 * The queries that make sense on a target: all of them locally, where the data tier's exporters run beside the
 * platform; on kubernetes only the alerts and the backlog (the data tier there is a cloud service or operator whose
 * series this Prometheus may not have, and their absence is not a failure of the platform).
 */
export function queriesFor(kind: TargetKind): QueryName[] {
  return kind === "local" ? (Object.keys(QUERIES) as QueryName[]) : ["alerts", "backlog"];
}

async function metricChecks(t: Target, maxBacklog: number): Promise<DoctorCheck[]> {
  if (t.metricsSource() === null)
    return [{ area: "metrics", name: "prometheus", status: "info", detail: MESSAGES.noPrometheus }];
  const names = queriesFor(t.kind);
  let q: Partial<Record<QueryName, Sample[]>>;
  try {
    const entries = await Promise.all(names.map(async (k) => [k, await t.query(QUERIES[k])] as const));
    q = Object.fromEntries(entries);
  } catch (err) {
    // One cause, one row: without Prometheus none of the metric checks can run.
    const why = err instanceof Error ? err.message : String(err);
    const skipped = t.kind === "local" ? "replication, alert and backlog" : "alert and backlog";
    return [
      { area: "metrics", name: "prometheus-queries", status: "fail", detail: MESSAGES.prometheusDown(why, skipped) },
    ];
  }
  const got = (k: QueryName) => q[k] ?? [];
  if (t.kind !== "local") {
    const backlog = got("backlog");
    return [
      firingAlerts(got("alerts")),
      backlog.length === 0
        ? { area: "backlog", name: "message-backlog", status: "warn", detail: MESSAGES.backlogUnscraped }
        : messageBacklog(backlog, maxBacklog),
    ];
  }
  return [
    redisReplication(got("redisLinks"), got("redisLag")),
    kafkaReplication(got("underReplicated"), got("underMinIsr"), got("offline")),
    firingAlerts(got("alerts")),
    messageBacklog(got("backlog"), maxBacklog),
  ];
}

/** The doctor's run on an opened target (the tests give it a target of their own). */
export async function doctorOn(t: Target, stack: string, opts: DoctorOptions = {}): Promise<DoctorResult> {
  const now = new Date();
  const [health, metrics, filesystems, certs] = await Promise.all([
    t.health(),
    metricChecks(t, opts.maxBacklog ?? BACKLOG_MAX),
    t.dataFilesystems(),
    t.certificateFacts(),
  ]);
  const checks = [
    ...healthChecks(health),
    ...metrics,
    ...diskSpace(filesystems, opts.minDiskFree ?? DISK_MIN_FREE_PERCENT),
    ...certificates(t.kind, certs, now),
  ];
  const named = (s: CheckStatus) => checks.filter((c) => c.status === s).map((c) => c.name);
  const failing = named("fail");
  const ran = t.metricsSource() === null ? [] : queriesFor(t.kind);
  return {
    target: t.kind,
    stack,
    checkedAt: now.toISOString(),
    healthy: failing.length === 0,
    checks,
    failing,
    warnings: named("warn"),
    prometheusQueries: Object.fromEntries(ran.map((k) => [k, QUERIES[k]])),
  };
}

export async function doctor(opts: DoctorOptions): Promise<DoctorResult> {
  const stack = resolveStack(opts.stack);
  return doctorOn(await targetFor(stack), stack, opts);
}

const NOTHING_RUNS = "nothing of the platform is running on this target: start it with imctl local up";
const LOCAL_HINT =
  "next: imctl local logs <component> for a failing component; imctl local up restarts what died (runbooks/README.md)";
// The rows name objects as <namespace>/<name>; kubectl takes them as -n <namespace> <kind>/<name>.
const KUBERNETES_HINT =
  "next: kubectl -n <namespace> describe deployment|pod|pdb|hpa <name> for a failing row (its events say why), " +
  "kubectl -n <namespace> logs <pod> --previous for a crash loop, kubectl describe node <name> (runbooks/README.md)";

const UNREADABLE =
  "the cluster's API server did not answer: check the stack's cluster.kubeconfig and cluster.context (else " +
  "$KUBECONFIG), and that the cluster is up (imctl cluster status for the embedded one)";

const MARK: Record<CheckStatus, string> = { ok: "ok", warn: "WARN", fail: "FAIL", info: "info" };

export function renderDoctor(r: DoctorResult): string {
  const rows = r.checks.map((c) => [c.area, c.name, MARK[c.status], c.detail]);
  const bad = r.checks.filter((c) => c.status === "fail");
  const verdict = r.healthy
    ? `doctor: healthy (${r.checks.length} checks${r.warnings.length ? `, ${r.warnings.length} warning(s): ${r.warnings.join(", ")}` : ""})`
    : [
        `doctor: NOT healthy: ${r.failing.length} failing: ${r.failing.join(", ")}`,
        ...bad.map((c) => `  - ${c.name}: ${c.detail}`),
      ].join("\n");
  const components = r.checks.filter((c) => c.area === "component");
  const nothingRuns =
    components.length > 0 && components.every((c) => c.status === "fail" && c.detail.startsWith("not running"));
  const unreadable = r.failing.length === 1 && r.failing[0] === "kubernetes-api";
  const next =
    r.target === "local" ? (nothingRuns ? NOTHING_RUNS : LOCAL_HINT) : unreadable ? UNREADABLE : KUBERNETES_HINT;
  const hint = r.healthy ? [] : ["", next];
  return [table(["AREA", "CHECK", "RESULT", "DETAIL"], rows), "", verdict, ...hint].join("\n");
}
