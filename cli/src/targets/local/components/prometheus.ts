import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { REPO_ROOT } from "../../../../../base/root.mjs";
import { redisNodeCount } from "../../../../../infra/lib/spec.ts";
import { waitFor } from "../../../lib/wait.ts";
import { logFile, type LocalComponent, type LocalContext } from "../context.ts";
import { writeServiceTargets } from "./services.ts";

/** The alert rules both targets load (the kubernetes target ships the same file through kube-prometheus-stack). */
export const RULES_FILE = join(REPO_ROOT, "infra", "observability", "rules", "platform.rules.yml");

export interface ScrapeJob {
  job_name: string;
  metrics_path?: string;
  static_configs?: Array<{ targets: string[]; labels?: Record<string, string> }>;
  file_sd_configs?: Array<{ files: string[] }>;
  relabel_configs?: Array<Record<string, unknown>>;
}

/** Every scrape job of the local platform. Services (issue: the IM services) register through file_sd. */
export function scrapeJobs(ctx: LocalContext): ScrapeJob[] {
  const p = ctx.spec.local.ports;
  const h = ctx.host;
  const redisNodes = Array.from({ length: redisNodeCount(ctx.spec) }, (_, i) => `redis://${h}:${p.redis + i}`);
  return [
    { job_name: "prometheus", static_configs: [{ targets: [`${h}:${p.prometheus}`] }] },
    { job_name: "node", static_configs: [{ targets: [`${h}:${p.nodeExporter}`] }] },
    {
      job_name: "redis",
      metrics_path: "/scrape",
      static_configs: [{ targets: redisNodes }],
      relabel_configs: [
        { source_labels: ["__address__"], target_label: "__param_target" },
        { source_labels: ["__param_target"], target_label: "instance" },
        { target_label: "__address__", replacement: `${h}:${p.redisExporter}` },
      ],
    },
    { job_name: "redis-exporter", static_configs: [{ targets: [`${h}:${p.redisExporter}`] }] },
    {
      job_name: "kafka",
      static_configs: [
        {
          targets: Array.from({ length: ctx.spec.data.kafka.brokers }, (_, i) => `${h}:${p.kafkaJmx + i}`),
        },
      ],
    },
    { job_name: "mysql", static_configs: [{ targets: [`${h}:${p.mysqldExporter}`] }] },
    { job_name: "nginx", static_configs: [{ targets: [`${h}:${p.nginxExporter}`] }] },
    { job_name: "im-services", file_sd_configs: [{ files: [join(ctx.dir, "prometheus", "targets", "*.json")] }] },
  ];
}

export function renderPrometheusConfig(ctx: LocalContext): string {
  const interval = `${ctx.spec.local.prometheus.scrapeIntervalSeconds}s`;
  return (
    "# Rendered by imctl (cli/src/targets/local/components/prometheus.ts); edits are overwritten.\n" +
    stringify({
      global: {
        scrape_interval: interval,
        evaluation_interval: interval,
        external_labels: { platform: ctx.spec.name },
      },
      rule_files: [RULES_FILE],
      scrape_configs: scrapeJobs(ctx),
    })
  );
}

export function prometheusComponent(ctx: LocalContext): LocalComponent {
  const port = ctx.spec.local.ports.prometheus;
  return {
    id: "prometheus",
    group: "prometheus",
    tools: ["prometheus"],
    ports: [{ port, field: "local.ports.prometheus" }],
    endpoint: `http://${ctx.host}:${port}`,
    startTimeoutMs: 30_000,
    stop: { signal: "SIGTERM", graceMs: 15_000 },
    async prepare(c) {
      const dir = join(c.dir, "prometheus");
      mkdirSync(join(dir, "data"), { recursive: true });
      mkdirSync(join(dir, "targets"), { recursive: true });
      const conf = join(dir, "prometheus.yml");
      writeFileSync(conf, renderPrometheusConfig(c));
      writeServiceTargets(c);
      return {
        bin: c.tool("prometheus"),
        args: [
          `--config.file=${conf}`,
          `--storage.tsdb.path=${join(dir, "data")}`,
          `--storage.tsdb.retention.time=${c.spec.local.prometheus.retentionDays}d`,
          `--web.listen-address=${c.host}:${port}`,
          "--web.enable-lifecycle",
          "--log.level=warn",
        ],
        cwd: dir,
        logFile: logFile(c, "prometheus"),
      };
    },
    async probe(c) {
      const res = await fetch(`http://${c.host}:${port}/-/ready`, { signal: AbortSignal.timeout(2000) });
      if (res.status !== 200) throw new Error(`/-/ready answered ${res.status}`);
      return "ready";
    },
  };
}

export interface TargetHealth {
  job: string;
  instance: string;
  health: string;
  lastError: string;
}

/** Scrape targets as Prometheus sees them (GET /api/v1/targets). */
export async function prometheusTargets(ctx: Pick<LocalContext, "host" | "spec">): Promise<TargetHealth[]> {
  const res = await fetch(`http://${ctx.host}:${ctx.spec.local.ports.prometheus}/api/v1/targets?state=active`, {
    signal: AbortSignal.timeout(3000),
  });
  const body = (await res.json()) as {
    data?: { activeTargets?: Array<{ labels?: Record<string, string>; health?: string; lastError?: string }> };
  };
  return (body.data?.activeTargets ?? []).map((t) => ({
    job: t.labels?.job ?? "?",
    instance: t.labels?.instance ?? "?",
    health: t.health ?? "unknown",
    lastError: t.lastError ?? "",
  }));
}

/** Waits until Prometheus has found every static target and the `discovered` service targets, and scraped each one. */
export async function ensurePrometheusTargets(ctx: LocalContext, discovered: number): Promise<TargetHealth[]> {
  const expected =
    scrapeJobs(ctx).reduce((n, j) => n + (j.static_configs ?? []).reduce((m, s) => m + s.targets.length, 0), 0) +
    discovered;
  let last: TargetHealth[] = [];
  return waitFor(
    `Prometheus to scrape all ${expected} targets`,
    async () => {
      last = await prometheusTargets(ctx);
      return last.length >= expected && last.every((t) => t.health === "up") ? last : undefined;
    },
    {
      timeoutMs: 60_000,
      intervalMs: 500,
      lastError: () => {
        const bad = last.filter((t) => t.health !== "up");
        const why = bad.map((t) => `${t.job}/${t.instance}: ${t.health} ${t.lastError}`.trim()).join("; ");
        return `${last.length - bad.length}/${expected} up${bad.length ? `; ${why}` : ""}`;
      },
    },
  );
}
