import { join } from "node:path";
import type { LocalPlatformSpec } from "../../../../infra/lib/spec.ts";
import type { ProcessSpec } from "../../lib/process.ts";
import type { ComponentGroup } from "../lifecycle.ts";

export type { ComponentGroup };

export interface PortClaim {
  port: number;
  /** The stack-file field the port comes from, for messages: "local.ports.redis". */
  field: string;
}

/** Everything a component needs to know about where it runs. */
export interface LocalContext {
  spec: LocalPlatformSpec;
  /** Root of the local target's state: data, configs, logs, pids. Also the marker that tells our processes apart. */
  dir: string;
  host: string;
  /** Resolved path of a tool under .tools/ (bin name, or "kafka" for the jar directory). */
  tool: (name: string) => string;
  secrets: Secrets;
  state: LocalState;
}

export interface Secrets {
  dbRootPassword: string;
  dbAppUser: string;
  dbAppPassword: string;
  dbExporterPassword: string;
  /** Service-to-service token on internal routes. */
  internalToken: string;
  /** Token signing keys, `kid:secret,...`, and the one that signs. */
  tokenKeys: string;
  tokenActiveKid: string;
}

export interface ProcessRecord {
  pid: number;
  startedAt: string;
}

/** Persisted in `<dir>/state.json`. */
export interface LocalState {
  version: 1;
  /** Stack file the platform was brought up from. */
  stack: string;
  components: Record<string, ProcessRecord>;
  kafkaClusterId?: string;
  /** Egress caps set at run time by `imctl bandwidth`, by gateway instance id; they outlive a restart. */
  egressCaps?: Record<string, number>;
}

/** One long-running process of the local platform. */
export interface LocalComponent {
  id: string;
  group: ComponentGroup;
  /** Tools (by .tools/bin name) it needs; all are checked before anything starts. */
  tools: string[];
  ports: PortClaim[];
  /** Where to reach it, for status and the summary `up` prints. */
  endpoint: string;
  /** Writes its config and initialises its data directory, then says how to run it. */
  prepare(ctx: LocalContext): Promise<ProcessSpec>;
  /** Resolves with a short detail when healthy; throws (with the reason) when not. */
  probe(ctx: LocalContext): Promise<string>;
  /** How long a cold start may take before `up` gives up on it. */
  startTimeoutMs: number;
  stop: {
    signal: NodeJS.Signals;
    graceMs: number;
    /**
     * Members of a quorum: stopped one after another, each gracefully while the others still hold the quorum, and the
     * last one of the group given only `lastGraceMs` (alone it cannot finish a shutdown the quorum must approve).
     */
    inTurn?: { lastGraceMs: number };
  };
}

export const logFile = (ctx: LocalContext, id: string): string => join(ctx.dir, "logs", `${id}.log`);
