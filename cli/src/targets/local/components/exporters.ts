import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { logFile, type LocalComponent, type LocalContext } from "../context.ts";

async function metricsUp(url: string, mustContain: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  const body = await res.text();
  if (!body.includes(mustContain)) throw new Error(`${url} does not report ${mustContain} yet`);
  return "serving metrics";
}

const exporterDefaults = {
  group: "exporter" as const,
  startTimeoutMs: 15_000,
  stop: { signal: "SIGTERM" as const, graceMs: 5_000 },
};

export function exporterComponents(ctx: LocalContext): LocalComponent[] {
  const p = ctx.spec.local.ports;
  const h = ctx.host;
  return [
    {
      ...exporterDefaults,
      id: "node-exporter",
      tools: ["node-exporter"],
      ports: [{ port: p.nodeExporter, field: "local.ports.nodeExporter" }],
      endpoint: `http://${h}:${p.nodeExporter}/metrics`,
      async prepare(c) {
        const textfiles = join(c.dir, "node-exporter", "textfile");
        mkdirSync(textfiles, { recursive: true });
        return {
          bin: c.tool("node-exporter"),
          args: [`--web.listen-address=${h}:${p.nodeExporter}`, `--collector.textfile.directory=${textfiles}`],
          logFile: logFile(c, "node-exporter"),
        };
      },
      probe: () => metricsUp(`http://${h}:${p.nodeExporter}/metrics`, "node_cpu_seconds_total"),
    },
    {
      ...exporterDefaults,
      id: "redis-exporter",
      tools: ["redis-exporter"],
      ports: [{ port: p.redisExporter, field: "local.ports.redisExporter" }],
      endpoint: `http://${h}:${p.redisExporter}/metrics`,
      async prepare(c) {
        // One exporter for every node: Prometheus scrapes /scrape?target=<node> (the multi-target pattern).
        return {
          bin: c.tool("redis-exporter"),
          args: [`-web.listen-address=${h}:${p.redisExporter}`, `-redis.addr=redis://${h}:${p.redis}`],
          logFile: logFile(c, "redis-exporter"),
        };
      },
      probe: () => metricsUp(`http://${h}:${p.redisExporter}/metrics`, "redis_up 1"),
    },
    {
      ...exporterDefaults,
      id: "mysqld-exporter",
      tools: ["mysqld-exporter"],
      ports: [{ port: p.mysqldExporter, field: "local.ports.mysqldExporter" }],
      endpoint: `http://${h}:${p.mysqldExporter}/metrics`,
      async prepare(c) {
        const dir = join(c.dir, "mysqld-exporter");
        mkdirSync(dir, { recursive: true });
        const cnf = join(dir, "my.cnf");
        writeFileSync(
          cnf,
          `[client]\nuser=exporter\npassword=${c.secrets.dbExporterPassword}\nhost=${h}\nport=${p.database}\n`,
          { mode: 0o600 },
        );
        return {
          bin: c.tool("mysqld-exporter"),
          args: [`--web.listen-address=${h}:${p.mysqldExporter}`, `--config.my-cnf=${cnf}`],
          logFile: logFile(c, "mysqld-exporter"),
        };
      },
      probe: () => metricsUp(`http://${h}:${p.mysqldExporter}/metrics`, "mysql_up 1"),
    },
    {
      ...exporterDefaults,
      id: "nginx-exporter",
      tools: ["nginx-exporter"],
      ports: [{ port: p.nginxExporter, field: "local.ports.nginxExporter" }],
      endpoint: `http://${h}:${p.nginxExporter}/metrics`,
      async prepare(c) {
        return {
          bin: c.tool("nginx-exporter"),
          args: [
            `-web.listen-address=${h}:${p.nginxExporter}`,
            `-nginx.scrape-uri=http://${h}:${p.nginxStatus}/stub_status`,
          ],
          logFile: logFile(c, "nginx-exporter"),
        };
      },
      probe: () => metricsUp(`http://${h}:${p.nginxExporter}/metrics`, "nginx_up 1"),
    },
  ];
}
