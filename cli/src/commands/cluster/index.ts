import {
  type ClusterDownResult,
  type ClusterLogs,
  type ClusterStatus,
  type ClusterUpResult,
  clusterDown,
  clusterImages,
  type LoadedImages,
  clusterLogs,
  clusterStatus,
  clusterUp,
} from "../../cluster/index.ts";
import { loadSpec, localPortAssignments, type LocalPlatformSpec } from "../../../../infra/lib/spec.ts";
import { UserError } from "../../errors.ts";
import { stackFile } from "../../lib/paths.ts";
import { table } from "../../lib/table.ts";
import { progress } from "../command.ts";

/**
 * The data tier of the local stack (stacks/local.yaml): every Redis node, every Kafka broker and the database, which
 * the embedded-cluster stack names as its external endpoints.
 */
export function localDataTierPorts(file = stackFile("local")): number[] {
  const spec = loadSpec(file);
  if (spec.target !== "local") throw new UserError(`${file}: target: got ${spec.target}; allowed: local`);
  return localPortAssignments(spec as LocalPlatformSpec)
    .filter(([field]) => /^(redis \(|kafka \(|database$)/.test(field))
    .map(([, port]) => port);
}

export function up(opts: { nodes?: "simulated" | "real"; hostPorts?: number[] } = {}): Promise<ClusterUpResult> {
  if (opts.hostPorts && opts.nodes !== "real")
    throw new UserError("--host-ports: only with --nodes real (the simulated nodes run nothing that could use them)");
  const realNode = opts.nodes === "real";
  return clusterUp({
    progress,
    realNode,
    hostPorts: realNode ? (opts.hostPorts ?? localDataTierPorts()) : undefined,
  });
}

export function images(opts: { tag?: string } = {}): Promise<LoadedImages> {
  return clusterImages({ progress, tag: opts.tag });
}

export function renderImages(r: LoadedImages): string {
  const rows = Object.entries(r.refs).map(([svc, ref]) => [
    svc,
    r.tagged ? `${ref} (also ${r.tagged[svc as keyof typeof r.tagged]})` : ref,
  ]);
  const how = r.imported ? "imported into the real node" : "the real node imports them when it starts";
  return `${table(["SERVICE", "IMAGE"], rows)}\n\nbuilt in ${r.seconds.toFixed(1)} s; ${how}`;
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
  const left = r.leftovers.length ? `\nLEFT BEHIND (remove by hand): ${r.leftovers.join("; ")}` : "";
  const head = rows.length ? `${table(["COMPONENT", "PID", "OUTCOME"], rows)}\n\n` : "";
  return `${head}stopped in ${r.elapsedSeconds.toFixed(1)} s; deleted ${r.dir}${ports}${left}`;
}

export function renderLogs(r: ClusterLogs): string {
  return r.lines.length ? r.lines.join("\n") : `no log lines yet for ${r.component} (${r.file})`;
}
