import {
  type ClusterDownResult,
  type ClusterLogs,
  type ClusterStatus,
  type ClusterUpResult,
  clusterDown,
  clusterLogs,
  clusterStatus,
  clusterUp,
} from "../../cluster/index.ts";
import { table } from "../../lib/table.ts";
import { progress } from "../command.ts";

export function up(): Promise<ClusterUpResult> {
  return clusterUp({ progress });
}

export function status(): Promise<ClusterStatus> {
  return clusterStatus();
}

export function down(opts: { yes?: boolean }): Promise<ClusterDownResult> {
  return clusterDown({ yes: opts.yes === true, progress });
}

export function logs(component: string, opts: { lines?: number }): ClusterLogs {
  return clusterLogs(component, opts.lines ?? 100);
}

export function renderStatus(s: ClusterStatus): string {
  const rows = s.components.map((c) => [
    c.id,
    c.state,
    c.pid === null ? "-" : String(c.pid),
    c.port === null ? "-" : String(c.port),
    c.detail,
  ]);
  const nodes = s.nodes.map((n) => [n.name, n.zone || "-", n.ready ? "Ready" : "NotReady", n.type || "-"]);
  return [
    table(["COMPONENT", "STATE", "PID", "PORT", "DETAIL"], rows),
    "",
    nodes.length
      ? table(["NODE", "ZONE", "STATUS", "TYPE"], nodes)
      : "no nodes listed (the API server is not answering)",
    "",
    s.exists
      ? `kubeconfig  ${s.kubeconfig ?? "(missing)"} (context ${s.context}, server ${s.server ?? "-"})`
      : "no embedded cluster: imctl cluster up creates one",
    `logs        ${s.logs} (imctl cluster logs <component>)`,
    `note        ${s.note}`,
    "",
    s.healthy ? "cluster: healthy" : "cluster: NOT healthy",
  ].join("\n");
}

export function renderUp(r: ClusterUpResult): string {
  const how = r.alreadyRunning
    ? `already running: nothing changed (${r.elapsedSeconds.toFixed(1)} s)`
    : `started ${r.started.length}, reused ${r.reused.length} in ${r.elapsedSeconds.toFixed(1)} s`;
  return `${renderStatus(r)} (${how})`;
}

export function renderDown(r: ClusterDownResult): string {
  if (!r.removed) return "nothing to stop: there is no embedded cluster";
  const rows = r.stopped.map((s) => [s.id, String(s.pid), s.outcome]);
  const ports = r.portsStillInUse.length
    ? `; ports still in use by another process: ${r.portsStillInUse.join(", ")}`
    : "; no port left listening";
  return `${rows.length ? `${table(["COMPONENT", "PID", "OUTCOME"], rows)}\n\n` : ""}stopped in ${r.elapsedSeconds.toFixed(1)} s; deleted ${r.dir}${ports}`;
}

export function renderLogs(r: ClusterLogs): string {
  return r.lines.length ? r.lines.join("\n") : `no log lines yet for ${r.component} (${r.file})`;
}
