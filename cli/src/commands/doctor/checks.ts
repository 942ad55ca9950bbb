/**
 * The checks of `imctl doctor`, as pure functions from what a target reports (health, Prometheus samples,
 * filesystems, certificates) to rows of ok / warn / fail / info. Thresholds are the alert rules' (the seed's).
 */
import type { CertificateFact, DataFilesystem, HealthReport, Sample } from "../../targets/target.ts";

export type { CertificateFact };

export type CheckStatus = "ok" | "warn" | "fail" | "info";

export type CheckArea =
  "component" | "platform" | "replication" | "alerts" | "backlog" | "disk" | "certificates" | "metrics";

export interface DoctorCheck {
  area: CheckArea;
  /** The component or check by its name (e.g. "kafka-2", "redis-replication"): what an operator acts on. */
  name: string;
  status: CheckStatus;
  detail: string;
}

/** Message backlog above which the platform is failing (the MessageBacklogHigh alert's threshold). */
export const BACKLOG_MAX = 1000;
/** Free space of a data filesystem below which doctor fails (the DiskSpaceLow alert's threshold), and warns. */
export const DISK_MIN_FREE_PERCENT = 10;
export const DISK_WARN_FREE_PERCENT = 20;
/** A certificate expiring within this many days fails the check; within the warning window it warns. */
export const CERT_FAIL_DAYS = 7;
export const CERT_WARN_DAYS = 30;
/** Seconds without a replica's acknowledgement before doctor warns (the RedisReplicaLag alert's threshold). */
export const REDIS_LAG_MAX_SECONDS = 5;

/** One row per component and one per platform check of the target's own health report. */
export function healthChecks(h: HealthReport): DoctorCheck[] {
  return [
    ...h.components.map((c): DoctorCheck => ({
      area: "component",
      name: c.id,
      status: c.healthy ? "ok" : "fail",
      detail: c.detail,
    })),
    ...h.checks.map((c): DoctorCheck => ({
      area: "platform",
      name: c.name,
      status: c.ok ? (c.note ?? "ok") : "fail",
      detail: c.detail,
    })),
  ];
}

const label = (s: Sample, name: string) => s.labels[name] ?? "?";
const total = (samples: Sample[]) => samples.reduce((n, s) => n + (Number.isFinite(s.value) ? s.value : 0), 0);

/** Every Redis replica's link to its primary is up, and none lags more than a few seconds behind. */
export function redisReplication(links: Sample[], lags: Sample[]): DoctorCheck {
  const name = "redis-replication";
  if (links.length === 0)
    return {
      area: "replication",
      name,
      status: "fail",
      detail: "no Redis replica reports a link to a primary (redis_master_link_up)",
    };
  const down = links
    .filter((s) => s.value !== 1)
    .map((s) => `${label(s, "instance")} -> ${label(s, "master_host")}:${label(s, "master_port")}`);
  if (down.length > 0)
    return { area: "replication", name, status: "fail", detail: `link to the primary down on ${down.join(", ")}` };
  const worst = lags.reduce<Sample | undefined>((w, s) => (w === undefined || s.value > w.value ? s : w), undefined);
  const lag = worst?.value ?? 0;
  const detail = `${links.length} replica(s) linked, max lag ${lag} s`;
  if (lag > REDIS_LAG_MAX_SECONDS) {
    return {
      area: "replication",
      name,
      status: "warn",
      detail: `${detail} (replica :${label(worst as Sample, "slave_port")} of ${label(worst as Sample, "instance")}, above ${REDIS_LAG_MAX_SECONDS} s)`,
    };
  }
  return { area: "replication", name, status: "ok", detail };
}

/** No Kafka partition under-replicated, below min.insync.replicas, or offline. */
export function kafkaReplication(underReplicated: Sample[], underMinIsr: Sample[], offline: Sample[]): DoctorCheck {
  const name = "kafka-replication";
  if (underReplicated.length === 0)
    return {
      area: "replication",
      name,
      status: "fail",
      detail: "no Kafka broker reports its partitions (kafka_server_replicamanager_value)",
    };
  const ur = total(underReplicated);
  const umi = total(underMinIsr);
  const off = Math.max(0, ...offline.map((s) => s.value));
  const detail = `${underReplicated.length} broker(s) reporting: ${ur} under-replicated, ${umi} below min.insync.replicas, ${off} offline partition(s)`;
  const worst = underReplicated.filter((s) => s.value > 0).map((s) => label(s, "instance"));
  if (ur > 0 || umi > 0 || off > 0)
    return {
      area: "replication",
      name,
      status: "fail",
      detail: `${detail}${worst.length ? ` (leaders: ${worst.join(", ")})` : ""}`,
    };
  return { area: "replication", name, status: "ok", detail };
}

/** Alerts firing now: a critical one fails the check, warnings only warn. */
export function firingAlerts(alerts: Sample[]): DoctorCheck {
  const name = "firing-alerts";
  if (alerts.length === 0) return { area: "alerts", name, status: "ok", detail: "no alert is firing" };
  const describe = (s: Sample) => {
    const where = s.labels.instance ?? s.labels.service ?? s.labels.mountpoint;
    return `${label(s, "alertname")}${where ? `(${where})` : ""} ${label(s, "severity")}`;
  };
  const critical = alerts.some((s) => s.labels.severity === "critical");
  const list = [...new Set(alerts.map(describe))].sort();
  return {
    area: "alerts",
    name,
    status: critical ? "fail" : "warn",
    detail: `${list.length} firing: ${list.join(", ")}`,
  };
}

/** Stored messages not yet fanned out (the Kafka consumer lag of the message instances). */
export function messageBacklog(lags: Sample[], max: number = BACKLOG_MAX): DoctorCheck {
  const name = "message-backlog";
  if (lags.length === 0)
    return {
      area: "backlog",
      name,
      status: "fail",
      detail: "no message instance reports its consumer lag (im_message_consumer_lag)",
    };
  const backlog = total(lags);
  const detail = `${backlog} message(s) waiting for fan-out across ${lags.length} message instance(s) (limit ${max})`;
  if (backlog > max) return { area: "backlog", name, status: "fail", detail };
  return { area: "backlog", name, status: backlog > max / 2 ? "warn" : "ok", detail };
}

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;

export function diskSpace(
  filesystems: DataFilesystem[],
  minFreePercent: number = DISK_MIN_FREE_PERCENT,
): DoctorCheck[] {
  const warnBelow = Math.max(minFreePercent, DISK_WARN_FREE_PERCENT);
  return filesystems.map((f) => {
    const free = f.sizeBytes > 0 ? (f.freeBytes / f.sizeBytes) * 100 : 0;
    const detail = `${f.what}: ${gib(f.freeBytes)} free of ${gib(f.sizeBytes)} (${free.toFixed(0)} %, fails below ${minFreePercent} %)`;
    const status: CheckStatus = free < minFreePercent ? "fail" : free < warnBelow ? "warn" : "ok";
    return { area: "disk", name: "disk-free", status, detail };
  });
}

export function certificates(kind: string, facts: CertificateFact[], now: Date): DoctorCheck[] {
  if (facts.length === 0) {
    const detail =
      kind === "kubernetes"
        ? "no kubernetes.io/tls Secret in the platform's namespaces"
        : `no TLS endpoints on the ${kind} target`;
    return [{ area: "certificates", name: "certificates", status: "info", detail }];
  }
  return facts.map((f): DoctorCheck => {
    const name = `certificate ${f.endpoint}`;
    if (f.validTo === undefined)
      return { area: "certificates", name, status: "fail", detail: f.error ?? "no certificate" };
    const days = Math.floor((f.validTo.getTime() - now.getTime()) / 86_400_000);
    const detail = `expires ${f.validTo.toISOString().slice(0, 10)} (${days} day(s))${f.trusted === false ? ", not trusted by this machine" : ""}`;
    const status: CheckStatus = days < CERT_FAIL_DAYS ? "fail" : days < CERT_WARN_DAYS ? "warn" : "ok";
    return { area: "certificates", name, status, detail };
  });
}
