/**
 * The platform's own lifecycle (`imctl local`): bring it up, stop it, show it, read a component's log, wipe its
 * data. Only the local target offers it today; on kubernetes the platform's lifecycle is Pulumi's (`imctl up`).
 */
import type { Edge } from "./target.ts";

export type Progress = (line: string) => void;

/** Groups of local components, in the order `up` brings them up. */
export type ComponentGroup = "redis" | "kafka" | "database" | "gateway-lb" | "services" | "exporter" | "prometheus";

export type ComponentState = "healthy" | "unhealthy" | "stopped";

export interface ComponentStatus {
  id: string;
  group: ComponentGroup;
  state: ComponentState;
  pid: number | null;
  endpoint: string;
  detail: string;
}

export interface PlatformCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Endpoints {
  gatewayLb: string;
  redisNodes: string[];
  kafkaBootstrap: string[];
  database: string;
  prometheus: string;
  logs: string;
}

export interface StatusResult {
  stack: string;
  dir: string;
  healthy: boolean;
  components: ComponentStatus[];
  checks: PlatformCheck[];
  endpoints: Endpoints;
}

export interface UpResult extends StatusResult {
  started: string[];
  reused: string[];
  elapsedSeconds: number;
}

export interface DownResult {
  dir: string;
  stopped: Array<{ id: string; pid: number; outcome: "stopped" | "killed" | "not running" | "not ours" }>;
  elapsedSeconds: number;
}

export interface ResetResult extends DownResult {
  removed: string[];
}

export interface LogsResult {
  component: string;
  file: string;
  lines: string[];
}

export interface PlatformLifecycle {
  /** Starts what is not running, stage by stage, and waits for every component to be healthy. */
  up(progress: Progress): Promise<UpResult>;
  /** Stops every component (gateways drain first); the data stays. */
  down(progress: Progress): Promise<DownResult>;
  /** Every component's state and the platform-wide checks; changes nothing. */
  status(): Promise<StatusResult>;
  /** Stops everything and deletes every data directory; `yes` confirms it (a UserError otherwise). */
  reset(yes: boolean, progress: Progress): Promise<ResetResult>;
  /** The last `lines` lines of one component's log. */
  logs(component: string, lines: number): LogsResult;
  /** Where clients reach the running platform (its load balancer). */
  edge(): Edge;
}
