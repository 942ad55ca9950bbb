/**
 * `imctl doctor`: the daily health check. Every component and platform check of the target, replication (Redis
 * replica links and lag, Kafka ISR), alerts firing in Prometheus, the message backlog, free disk where the data
 * lives, and certificate expiry. It reads and never changes anything; the exit code is 1 when any check fails,
 * and the failing components and checks are named.
 */
import { presentedCertificate } from "../../lib/tls.ts";
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
  type CertificateFact,
  type CheckStatus,
  type DoctorCheck,
} from "./checks.ts";

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
  /** The Prometheus queries behind the replication, alert and backlog checks (the same on every target). */
  prometheusQueries: typeof QUERIES;
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

/** The stack's own target; a kubernetes stack is a UserError (MESSAGES.doctorKubernetes) from the factory. */
function targetFor(stackFile: string): Promise<Target> {
  return openTarget({ stack: stackFile }).health();
}

async function metricChecks(t: Target, maxBacklog: number): Promise<DoctorCheck[]> {
  let q: Record<keyof typeof QUERIES, Sample[]>;
  try {
    const entries = await Promise.all(
      Object.entries(QUERIES).map(async ([k, promql]) => [k, await t.query(promql)] as const),
    );
    q = Object.fromEntries(entries) as Record<keyof typeof QUERIES, Sample[]>;
  } catch (err) {
    // One cause, one row: without Prometheus none of the metric checks can run.
    const why = err instanceof Error ? err.message : String(err);
    return [
      {
        area: "metrics",
        name: "prometheus-queries",
        status: "fail",
        detail: `Prometheus did not answer (${why}); replication, alert and backlog checks skipped`,
      },
    ];
  }
  return [
    redisReplication(q.redisLinks, q.redisLag),
    kafkaReplication(q.underReplicated, q.underMinIsr, q.offline),
    firingAlerts(q.alerts),
    messageBacklog(q.backlog, maxBacklog),
  ];
}

async function certificateFacts(t: Target): Promise<CertificateFact[]> {
  const endpoints = await t.tlsEndpoints();
  return Promise.all(
    endpoints.map(async (ep): Promise<CertificateFact> => {
      const endpoint = `${ep.name} ${ep.host}:${ep.port}`;
      try {
        const c = await presentedCertificate(ep);
        return { endpoint, validTo: c.validTo, trusted: c.trusted };
      } catch (err) {
        return { endpoint, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}

export async function doctor(opts: DoctorOptions): Promise<DoctorResult> {
  const stack = resolveStack(opts.stack);
  const t = await targetFor(stack);
  const now = new Date();
  const [health, metrics, filesystems, certs] = await Promise.all([
    t.health(),
    metricChecks(t, opts.maxBacklog ?? BACKLOG_MAX),
    t.dataFilesystems(),
    certificateFacts(t),
  ]);
  const checks = [
    ...healthChecks(health),
    ...metrics,
    ...diskSpace(filesystems, opts.minDiskFree ?? DISK_MIN_FREE_PERCENT),
    ...certificates(t.kind, certs, now),
  ];
  const named = (s: CheckStatus) => checks.filter((c) => c.status === s).map((c) => c.name);
  const failing = named("fail");
  return {
    target: t.kind,
    stack,
    checkedAt: now.toISOString(),
    healthy: failing.length === 0,
    checks,
    failing,
    warnings: named("warn"),
    prometheusQueries: QUERIES,
  };
}

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
  const hint = r.healthy
    ? []
    : nothingRuns
      ? ["", "nothing of the platform is running on this target: start it with imctl local up"]
      : [
          "",
          "next: imctl local logs <component> for a failing component; imctl local up restarts what died (runbooks/README.md)",
        ];
  return [table(["AREA", "CHECK", "RESULT", "DETAIL"], rows), "", verdict, ...hint].join("\n");
}
