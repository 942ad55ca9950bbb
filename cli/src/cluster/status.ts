/**
 * What the embedded cluster is doing now: each component's process and health, the nodes the API server lists,
 * and where the kubeconfig is. Read-only; takes no lock.
 */
import { existsSync, readFileSync } from "node:fs";
import { isOurs } from "../lib/process.ts";
import { COMPONENTS, CONTEXT_NAME, type ClusterLayout, clusterLayout, type ComponentId, ZONES } from "./layout.ts";
import { CLUSTER_MESSAGES } from "./messages.ts";
import { pkiFiles, tokenOf } from "./pki.ts";
import { healthUrl, listNodes, type NodeStatus, probe } from "./probe.ts";
import { type ClusterState, readState } from "./state.ts";

export type ComponentState = "running" | "unhealthy" | "stopped";

export interface ComponentReport {
  id: ComponentId;
  state: ComponentState;
  pid: number | null;
  port: number | null;
  endpoint: string;
  detail: string;
}

export interface ClusterStatus {
  /** Whether the cluster exists (a state file) at all. */
  exists: boolean;
  /** Every component running and healthy, and one Ready node per zone. */
  healthy: boolean;
  dir: string;
  /** The admin kubeconfig (context CONTEXT_NAME), or null before the first `up`. */
  kubeconfig: string | null;
  context: string;
  server: string | null;
  components: ComponentReport[];
  nodes: NodeStatus[];
  logs: string;
  /** Says plainly that nothing runs in the simulated nodes' pods. */
  note: string;
}

/** The process of a component, when it is alive and one of ours (not a recycled pid). */
export function livePid(l: ClusterLayout, s: ClusterState, id: ComponentId): number | undefined {
  const pid = s.pids[id];
  return pid !== undefined && isOurs(pid, l.dir) ? pid : undefined;
}

export function adminToken(l: ClusterLayout): string {
  return tokenOf(pkiFiles(l), "admin");
}

async function componentReport(l: ClusterLayout, s: ClusterState, id: ComponentId): Promise<ComponentReport> {
  const port = s.ports[id];
  const endpoint = healthUrl(id, port).replace(/\/(health|healthz|readyz)$/, "");
  const pid = livePid(l, s, id);
  if (pid === undefined) return { id, state: "stopped", pid: null, port, endpoint, detail: "no process" };
  const why = await probe(id, port, { caFile: pkiFiles(l).caCert, adminToken: () => adminToken(l) });
  return why === undefined
    ? { id, state: "running", pid, port, endpoint, detail: "healthy" }
    : { id, state: "unhealthy", pid, port, endpoint, detail: why };
}

/** The nodes, or none when the API server cannot be asked. */
async function nodesOf(l: ClusterLayout, apiserverUp: boolean): Promise<{ nodes: NodeStatus[]; error?: string }> {
  if (!apiserverUp || !existsSync(l.kubeconfig)) return { nodes: [] };
  try {
    return { nodes: await listNodes(l.kubeconfig) };
  } catch (err) {
    return { nodes: [], error: (err as Error).message };
  }
}

/** True when every zone has a Ready simulated node. */
export function zonesReady(nodes: readonly NodeStatus[]): boolean {
  return ZONES.every((z) => nodes.some((n) => n.zone === z && n.ready));
}

export async function clusterStatus(l: ClusterLayout = clusterLayout()): Promise<ClusterStatus> {
  const s = readState(l.state);
  const base = {
    dir: l.dir,
    context: CONTEXT_NAME,
    logs: l.logs,
    note: CLUSTER_MESSAGES.simulated,
  };
  if (!s) {
    const components = COMPONENTS.map((id): ComponentReport => ({
      id,
      state: "stopped",
      pid: null,
      port: null,
      endpoint: "-",
      detail: "not created",
    }));
    return { ...base, exists: false, healthy: false, kubeconfig: null, server: null, components, nodes: [] };
  }
  const components = await Promise.all(COMPONENTS.map((id) => componentReport(l, s, id)));
  const apiUp = components.some((c) => c.id === "kube-apiserver" && c.state === "running");
  const { nodes } = await nodesOf(l, apiUp);
  const healthy = components.every((c) => c.state === "running") && zonesReady(nodes);
  return {
    ...base,
    exists: true,
    healthy,
    kubeconfig: existsSync(l.kubeconfig) ? l.kubeconfig : null,
    server: `https://127.0.0.1:${s.ports["kube-apiserver"]}`,
    components,
    nodes,
  };
}

export interface ClusterLogs {
  component: ComponentId;
  file: string;
  lines: string[];
}

export function tailLines(file: string, n: number): string[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, "utf8").split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.slice(-n);
}
