import { progress } from "../command.ts";
import { resolveStack } from "../stack.ts";
import type {
  DownResult,
  LogsResult,
  PlatformLifecycle,
  ResetResult,
  StatusResult,
  UpResult,
} from "../../targets/lifecycle.ts";
import { openTarget } from "../../targets/open.ts";
import { table } from "../../lib/table.ts";

export interface LocalOptions {
  stack?: string;
}

const platform = (opts: LocalOptions): PlatformLifecycle =>
  openTarget({ stack: resolveStack(opts.stack), target: "local" }).lifecycle();

export function up(opts: LocalOptions): Promise<UpResult> {
  return platform(opts).up(progress);
}

export function down(opts: LocalOptions): Promise<DownResult> {
  return platform(opts).down(progress);
}

export function status(opts: LocalOptions): Promise<StatusResult> {
  return platform(opts).status();
}

export function reset(opts: LocalOptions & { yes?: boolean }): Promise<ResetResult> {
  return platform(opts).reset(opts.yes === true, progress);
}

export async function logs(component: string, opts: LocalOptions & { lines?: number }): Promise<LogsResult> {
  return platform(opts).logs(component, opts.lines ?? 100);
}

export function renderStatus(s: StatusResult): string {
  const rows = s.components.map((c) => [c.id, c.state, c.pid === null ? "-" : String(c.pid), c.endpoint, c.detail]);
  const checks = s.checks.map((c) => [c.name, c.ok ? "ok" : "FAILING", c.detail]);
  const e = s.endpoints;
  return [
    table(["COMPONENT", "STATE", "PID", "ENDPOINT", "DETAIL"], rows),
    "",
    checks.length
      ? table(["CHECK", "RESULT", "DETAIL"], checks)
      : "no platform checks: nothing is running (imctl local up)",
    "",
    "Where everything is:",
    `  gateway (nginx LB)  ${e.gatewayLb}`,
    `  redis cluster       ${e.redisNodes.join(" ")}`,
    `  kafka bootstrap     ${e.kafkaBootstrap.join(",")}`,
    `  database            ${e.database}`,
    `  prometheus          ${e.prometheus}`,
    `  logs                ${e.logs} (imctl local logs <component>)`,
    "",
    s.healthy ? "platform: healthy" : "platform: NOT healthy",
  ].join("\n");
}

export function renderUp(r: UpResult): string {
  const how = `started ${r.started.length}, reused ${r.reused.length} in ${r.elapsedSeconds.toFixed(1)} s`;
  return `${renderStatus(r)} (${how})`;
}

export function renderDown(r: DownResult): string {
  if (r.stopped.length === 0) return "nothing to stop: the local platform is not running";
  const rows = r.stopped.map((s) => [s.id, String(s.pid), s.outcome]);
  return (
    `${table(["COMPONENT", "PID", "OUTCOME"], rows)}\n\n` +
    `stopped in ${r.elapsedSeconds.toFixed(1)} s; data kept in ${r.dir} (imctl local reset --yes deletes it)`
  );
}

export function renderReset(r: ResetResult): string {
  return `${r.stopped.length} process(es) stopped; removed ${r.removed.length ? r.removed.join(", ") : "nothing"} from ${r.dir}`;
}

export function renderLogs(r: LogsResult): string {
  return r.lines.length ? r.lines.join("\n") : `no log lines yet for ${r.component} (${r.file})`;
}
