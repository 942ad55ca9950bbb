/**
 * The metrics the alert rules and dashboards may read: what the services declare (parsed from their source) and
 * what the exporters and the Kafka JMX agent of both targets export. The unit tests hold every rule and panel to
 * this list; test/integration/default/doctor.ts holds the list to a running local platform's Prometheus.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const SERVICES_DIR = join(import.meta.dirname, "..", "..", "services");

/** Exporter metrics in use (node, redis, mysqld, nginx exporters; Kafka's JMX agent; Prometheus itself). */
export const EXPORTER_METRICS = [
  "up",
  "ALERTS",
  "node_cpu_seconds_total",
  "node_netstat_Tcp_OutSegs",
  "node_netstat_Tcp_RetransSegs",
  "node_filesystem_avail_bytes",
  "node_filesystem_size_bytes",
  "redis_up",
  "redis_cluster_state",
  "redis_master_link_up",
  "redis_connected_slave_lag_seconds",
  "kafka_server_replicamanager_value",
  "kafka_server_kafkaserver_value",
  "kafka_controller_kafkacontroller_value",
  "mysql_up",
  "nginx_up",
] as const;

/** prom-client's default metrics the dashboards read (collectDefaultMetrics with the `im_process_` prefix). */
export const SERVICE_DEFAULT_METRICS = [
  "im_process_process_cpu_seconds_total",
  "im_process_process_resident_memory_bytes",
  "im_process_nodejs_eventloop_lag_p99_seconds",
] as const;

function metricsSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name === "metrics.ts")
    .map((e) => join(e.parentPath, e.name));
}

export interface DeclaredMetric {
  name: string;
  /** Series with labels exist only once a value was recorded; unlabelled ones from the first scrape. */
  labelled: boolean;
}

/** Every series the services declare, histograms as their _bucket, _count and _sum series. */
export function serviceMetrics(dir: string = SERVICES_DIR): DeclaredMetric[] {
  const out = new Map<string, DeclaredMetric>(SERVICE_DEFAULT_METRICS.map((name) => [name, { name, labelled: false }]));
  for (const file of metricsSources(dir)) {
    for (const m of readFileSync(file, "utf8").matchAll(
      /new (Counter|Gauge|Histogram)\(\{\s*name:\s*"([a-z_:][a-z0-9_:]*)"([\s\S]*?)\bregisters\b/g,
    )) {
      const [, kind, name, rest] = m;
      if (name === undefined) continue;
      const labelled = /labelNames:/.test(rest ?? "");
      for (const series of kind === "Histogram" ? ["_bucket", "_count", "_sum"].map((s) => name + s) : [name])
        out.set(series, { name: series, labelled });
    }
  }
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export function serviceMetricNames(dir: string = SERVICES_DIR): string[] {
  return serviceMetrics(dir).map((m) => m.name);
}

export function knownMetrics(): Set<string> {
  return new Set<string>([...EXPORTER_METRICS, ...serviceMetricNames()]);
}
