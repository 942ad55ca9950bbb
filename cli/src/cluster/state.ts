/**
 * The cluster's state file (`<state dir>/cluster/state.json`): the ports chosen at the first `up` (kept for the
 * cluster's life, so a repaired component comes back where clients expect it) and the pid of each process.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { COMPONENTS, type ComponentId } from "./layout.ts";
import type { RealNodeState } from "./node/node.ts";

/** The ports of the cluster: one per component, plus etcd's peer port. */
export const PORT_NAMES = [...COMPONENTS, "etcd-peer"] as const;
export type PortName = (typeof PORT_NAMES)[number];

export interface ClusterState {
  version: 1;
  createdAt: string;
  ports: Record<PortName, number>;
  pids: Partial<Record<ComponentId, number>>;
  /** The real node, when `up --nodes real` added one. */
  realNode?: RealNodeState;
}

const isPort = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v > 0 && v < 65536;
const isPid = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v > 0;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses a state file's text; a file that is not a cluster state names the first bad field. */
export function parseState(text: string, file = "state.json"): ClusterState {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message})`);
  }
  const bad = (field: string, allowed: string) => new Error(`${file}: ${field} is not ${allowed}`);
  if (!isRecord(v)) throw bad("the file", "an object");
  if (v.version !== 1) throw bad("version", "1");
  if (typeof v.createdAt !== "string") throw bad("createdAt", "a string");
  const ports = v.ports;
  if (!isRecord(ports)) throw bad("ports", "an object");
  const outPorts = {} as Record<PortName, number>;
  for (const name of PORT_NAMES) {
    const p = ports[name];
    if (!isPort(p)) throw bad(`ports.${name}`, "a port number (1-65535)");
    outPorts[name] = p;
  }
  const pids = v.pids ?? {};
  if (!isRecord(pids)) throw bad("pids", "an object");
  const outPids: Partial<Record<ComponentId, number>> = {};
  for (const [id, pid] of Object.entries(pids)) {
    if (!(COMPONENTS as readonly string[]).includes(id))
      throw bad(`pids.${id}`, `a component (${COMPONENTS.join(", ")})`);
    if (!isPid(pid)) throw bad(`pids.${id}`, "a process id");
    outPids[id as ComponentId] = pid;
  }
  const out: ClusterState = { version: 1, createdAt: v.createdAt, ports: outPorts, pids: outPids };
  if (v.realNode !== undefined) out.realNode = parseRealNode(v.realNode, bad);
  return out;
}

function parseRealNode(v: unknown, bad: (field: string, allowed: string) => Error): RealNodeState {
  if (!isRecord(v)) throw bad("realNode", "an object");
  if (typeof v.netns !== "string" || !/^imctl-[0-9a-f]{8}$/.test(v.netns))
    throw bad("realNode.netns", "imctl-<8 hex digits>");
  if (!Array.isArray(v.hostPorts) || !v.hostPorts.every(isPort)) throw bad("realNode.hostPorts", "a list of ports");
  const pids = v.pids ?? {};
  if (!isRecord(pids)) throw bad("realNode.pids", "an object");
  if (!isPort(v.ingressPort)) throw bad("realNode.ingressPort", "a port number (1-65535)");
  const out: RealNodeState = {
    netns: v.netns,
    hostPorts: v.hostPorts as number[],
    ingressPort: v.ingressPort,
    pids: {},
  };
  for (const key of ["init", "forward"] as const) {
    if (pids[key] === undefined) continue;
    if (!isPid(pids[key])) throw bad(`realNode.pids.${key}`, "a process id");
    out.pids[key] = pids[key];
  }
  return out;
}

export function readState(file: string): ClusterState | undefined {
  if (!existsSync(file)) return undefined;
  return parseState(readFileSync(file, "utf8"), file);
}

/** Written atomically (temp file and rename), so a crash never leaves half a state file. */
export function writeState(file: string, s: ClusterState): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}
