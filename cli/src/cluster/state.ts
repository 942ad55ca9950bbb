/**
 * The cluster's state file (`<state dir>/cluster/state.json`): the ports chosen at the first `up` (kept for the
 * cluster's life, so a repaired component comes back where clients expect it) and the pid of each process.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { COMPONENTS, type ComponentId } from "./layout.ts";

/** The ports of the cluster: one per component, plus etcd's peer port. */
export const PORT_NAMES = [...COMPONENTS, "etcd-peer"] as const;
export type PortName = (typeof PORT_NAMES)[number];

export interface ClusterState {
  version: 1;
  createdAt: string;
  ports: Record<PortName, number>;
  pids: Partial<Record<ComponentId, number>>;
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
  return { version: 1, createdAt: v.createdAt, ports: outPorts, pids: outPids };
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
