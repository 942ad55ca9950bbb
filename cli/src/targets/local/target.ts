/**
 * The local target behind every workflow's capability: processes recorded in the local state, nginx for traffic,
 * the local Prometheus for metrics. It offers all of them: LocalTarget the workflows', localLifecycle the platform's.
 */
import { withLock } from "../../lib/lock.ts";
import type {
  BandwidthTarget,
  CanaryTrack,
  CertificateFact,
  ConfigSnapshot,
  DataFilesystem,
  DrillTarget,
  Edge,
  GatewayCap,
  GroupMoveStep,
  GroupTarget,
  HealthReport,
  HealthTarget,
  Instance,
  RolloutTarget,
  Sample,
  Series,
  ServiceName,
} from "../target.ts";
import type { DatabaseRestoreResult, FaultHandle, FaultPlan, FaultSpec } from "../faults.ts";
import type { PlatformLifecycle, Progress } from "../lifecycle.ts";
import { localCertificateFacts, stateDirFilesystem } from "./host.ts";
import { serviceInstances } from "./components/services.ts";
import { allowWrites, databaseRestoreDrill } from "./backup.ts";
import { healPartition, injectLocalFault, checkLocalFault, planLocalFault } from "./faults.ts";
import * as bandwidth from "./bandwidth.ts";
import { groupMove, groupStatus } from "./groups.ts";
import * as platform from "./platform.ts";
import { LocalCanaryTrack } from "./canary.ts";
import type { LocalContext } from "./context.ts";

export class LocalTarget implements RolloutTarget, DrillTarget, HealthTarget, BandwidthTarget, GroupTarget {
  readonly kind = "local" as const;
  readonly ctx: LocalContext;

  constructor(readonly stack: string) {
    this.ctx = platform.localContext(stack);
  }

  get stateDir(): string {
    return this.ctx.dir;
  }

  withLock<T>(command: string, fn: () => Promise<T>): Promise<T> {
    return withLock(platform.lockFile(this.ctx.dir), command, fn);
  }

  edge(): Edge {
    return localEdge(this.ctx);
  }

  async health(): Promise<HealthReport> {
    const s = await platform.status({ stackFile: this.stack });
    return {
      healthy: s.healthy,
      components: s.components.map((c) => ({
        id: c.id,
        group: c.group,
        healthy: c.state === "healthy",
        detail: c.detail,
      })),
      checks: s.checks,
    };
  }

  async instances(service?: ServiceName): Promise<Instance[]> {
    const all = serviceInstances(this.ctx).filter((i) => service === undefined || i.service === service);
    return Promise.all(
      all.map(async (i): Promise<Instance> => {
        const endpoint = `http://${this.ctx.host}:${i.port}`;
        let version = "unknown";
        let ready = false;
        try {
          const res = await fetch(`${endpoint}/readyz`, { signal: AbortSignal.timeout(2000) });
          const body = (await res.json()) as { version?: string };
          version = body.version ?? version;
          ready = res.status === 200;
        } catch {
          // not answering: not ready
        }
        return { id: i.id, service: i.service, version, role: "stable", endpoint, ready };
      }),
    );
  }

  async query(promql: string): Promise<Sample[]> {
    const body = await this.prometheus("query", { query: promql });
    const result = body.data?.result as Array<{ metric: Record<string, string>; value: [number, string] }> | undefined;
    return (result ?? []).map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
  }

  async queryRange(promql: string, startUnix: number, endUnix: number, stepSeconds: number): Promise<Series[]> {
    const body = await this.prometheus("query_range", {
      query: promql,
      start: String(startUnix),
      end: String(endUnix),
      step: String(stepSeconds),
    });
    const result = body.data?.result as
      Array<{ metric: Record<string, string>; values: Array<[number, string]> }> | undefined;
    return (result ?? []).map((r) => ({
      labels: r.metric,
      points: r.values.map(([t, v]) => [t, Number(v)] as [number, number]),
    }));
  }

  groupStatus(groupId: string): Promise<unknown> {
    return groupStatus(this.ctx, groupId);
  }

  groupMove(groupId: string, step: GroupMoveStep, body?: Record<string, unknown>): Promise<unknown> {
    return groupMove(this.ctx, groupId, step, body);
  }

  gatewayCaps(): Promise<GatewayCap[]> {
    return bandwidth.gatewayCaps(this.ctx);
  }

  setGatewayCap(instance: string, bytesPerSecond: number): Promise<void> {
    return bandwidth.setGatewayCap(this.ctx, instance, bytesPerSecond);
  }

  snapshotConfig(): Promise<ConfigSnapshot> {
    return bandwidth.snapshotConfig(this.ctx);
  }

  restoreConfig(snapshot: ConfigSnapshot): Promise<void> {
    return bandwidth.restoreConfig(this.ctx, snapshot);
  }

  checkFault(spec: FaultSpec): void {
    checkLocalFault(this.stack, spec);
  }

  planFault(spec: FaultSpec): Promise<FaultPlan> {
    return planLocalFault(this.stack, spec);
  }

  injectFault(plan: FaultPlan, drillId: string, progress: (line: string) => void): Promise<FaultHandle> {
    return injectLocalFault(this.stack, plan, drillId, progress);
  }

  databaseRestoreDrill(progress: (line: string) => void): Promise<DatabaseRestoreResult> {
    return databaseRestoreDrill(this.stack, progress);
  }

  healPartition(drillId: string): Promise<void> {
    return healPartition(this.stack, drillId);
  }

  allowWrites(): Promise<void> {
    return allowWrites(this.stack);
  }

  async repair(progress: Progress): Promise<void> {
    await platform.up({ stackFile: this.stack, progress });
  }

  dataFilesystems(): Promise<DataFilesystem[]> {
    return stateDirFilesystem(this.ctx.dir);
  }

  certificateFacts(): Promise<CertificateFact[]> {
    return localCertificateFacts();
  }

  metricsSource(): string {
    return this.prometheusUrl();
  }

  canary(): CanaryTrack {
    return new LocalCanaryTrack(this.ctx);
  }

  private prometheusUrl(): string {
    return `http://${this.ctx.host}:${this.ctx.spec.local.ports.prometheus}`;
  }

  private async prometheus(
    path: "query" | "query_range",
    params: Record<string, string>,
  ): Promise<{ data?: { result?: unknown } }> {
    const url = `${this.prometheusUrl()}/api/v1/${path}`;
    const res = await fetch(url, {
      method: "POST",
      body: new URLSearchParams(params),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as { status?: string; error?: string; data?: { result?: unknown } };
    if (body.status !== "success")
      throw new Error(`Prometheus ${path} ${JSON.stringify(params.query)} failed: ${body.error ?? res.status}`);
    return body;
  }
}

/**
 * `imctl local` on this machine. Nothing is loaded before a method runs: `reset` without --yes, or `down` with
 * nothing running, answer before the stack file is read.
 */
export function localLifecycle(stack: string): PlatformLifecycle {
  return {
    up: (progress) => platform.up({ stackFile: stack, progress }),
    down: (progress) => platform.down({ stackFile: stack, progress }),
    status: () => platform.status({ stackFile: stack }),
    reset: (yes, progress) => platform.reset({ stackFile: stack, yes, progress }),
    logs: (component, lines) => platform.logs({ stackFile: stack, component, lines }),
    edge: () => localEdge(platform.localContext(stack)),
  };
}

function localEdge(ctx: LocalContext): Edge {
  const port = ctx.spec.local.ports.gatewayLb;
  return { http: `http://${ctx.host}:${port}`, ws: `ws://${ctx.host}:${port}/ws` };
}
