/**
 * The canary track on the local target: a second set of gateway, user-center or message processes on the new version
 * (ports base + 50), behind nginx weights (the WebSocket upstream, or the account API's /v1/ upstream). Promotion
 * replaces the stable gateways one by one on the new version (each drains: its clients reconnect to the canary,
 * which carries 100 % meanwhile), then the canary drains back onto them; the new version stays stable across
 * `local down`/`up` (releases/<service>.json). Abort and removal set the weight
 * to 0 and drain the canary: clients reconnect to stable gateways and pull, so nothing is lost.
 *
 * The message service sits behind the gateways, not nginx: its canary instances get their share from every
 * gateway (PUT /admin/v1/message-upstream, and the same split in the environment of a gateway that starts
 * meanwhile). A message instance that stops answers 503 to new sends and the gateways retry them on the next
 * instance, so replacing instances loses nothing either.
 */
import { MESSAGES, InternalError, UserError } from "../../errors.ts";
import { isOurs, pidAlive, startDetached, stopGroup } from "../../lib/process.ts";
import { portFree } from "../../../../base/ports.ts";
import { sleep } from "../../../../base/sleep.ts";
import type { CanaryStatus, CanaryTrack, ReleaseSpec, ServiceName } from "../target.ts";
import {
  canaryInstances,
  readCanary,
  readMessageUpstream,
  readRelease,
  removeCanaryRecord,
  writeCanary,
  writeMessageUpstream,
  writeRelease,
  type LocalService,
} from "./canary-instances.ts";
import { instanceComponent, registerServices, serviceInstances, VERSION } from "./components/services.ts";
import { readApiPool, readPool, setApiPool, setGatewayPool } from "./components/nginx.ts";
import type { LocalComponent, LocalContext } from "./context.ts";
import type { Backend, GatewayPool } from "./nginx-config.ts";
import { saveState } from "./platform.ts";

type Progress = (line: string) => void;

export class LocalCanaryTrack implements CanaryTrack {
  constructor(private readonly ctx: LocalContext) {}

  supports(_service: ServiceName): void {
    // Every service has a canary track here (gateway and user-center behind nginx, message behind the gateways).
  }

  async preflight(service: ServiceName): Promise<void> {
    this.supports(service);
    const nginx = this.ctx.state.components.nginx;
    if (nginx === undefined || !isOurs(nginx.pid, this.ctx.dir))
      throw new UserError('nginx of the local target is not running: run "imctl local up" first');
    const down = serviceInstances(this.ctx).filter((i) => i.service === service && this.running(i.id) === null);
    if (down.length > 0)
      throw new UserError(`${down.map((i) => i.id).join(", ")} not running: run "imctl local up" first`);
  }

  /**
   * The canary's current weight where the service is carried: nginx's WebSocket upstream (gateway), its /v1/
   * upstream (user-center), or the gateways (message); 0 when no canary is in it.
   */
  private weight(service: LocalService): number {
    if (service === "message") return readMessageUpstream(this.ctx)?.weight ?? 0;
    const pool: GatewayPool = service === "gateway" ? readPool(this.ctx) : readApiPool(this.ctx);
    return pool.canary.length > 0 ? pool.canaryWeight : 0;
  }

  private async setPool(service: LocalService, stableAndCanary: { canary: boolean; weight: number }): Promise<void> {
    const canary = stableAndCanary.canary ? this.backends(service, "canary") : [];
    if (service === "message")
      return this.setMessageUpstream({
        urls: canary.map((b) => `http://${b.address}`),
        weight: stableAndCanary.weight,
      });
    const pool = { stable: this.backends(service, "stable"), canary, canaryWeight: stableAndCanary.weight };
    await (service === "gateway" ? setGatewayPool(this.ctx, pool) : setApiPool(this.ctx, pool));
  }

  /** Records the message canary's split and applies it on every running gateway (stable and canary). */
  private async setMessageUpstream(split: { urls: string[]; weight: number }): Promise<void> {
    writeMessageUpstream(this.ctx, split);
    const gateways = [...serviceInstances(this.ctx), ...canaryInstances(this.ctx)].filter(
      (i) => i.service === "gateway" && this.running(i.id) !== null,
    );
    await Promise.all(
      gateways.map(async (g) => {
        const url = `http://${this.ctx.host}:${g.port}/admin/v1/message-upstream`;
        const res = await fetch(url, {
          method: "PUT",
          headers: { "content-type": "application/json", "x-im-internal": this.ctx.secrets.internalToken },
          body: JSON.stringify(split),
          signal: AbortSignal.timeout(5000),
        }).catch((err: Error) => err);
        // A gateway that is going away starts again with the recorded split; one that is up must take it now.
        if (res instanceof Error) {
          if (this.running(g.id) !== null) throw new InternalError(`${g.id}: PUT ${url} failed: ${res.message}`);
        } else if (res.status !== 200)
          throw new InternalError(`${g.id}: PUT ${url} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
      }),
    );
  }

  private backends(service: LocalService, track: "stable" | "canary"): Backend[] {
    const list =
      track === "stable"
        ? serviceInstances(this.ctx).filter((i) => i.service === service)
        : canaryInstances(this.ctx).filter((i) => i.service === service);
    return list.map((i) => ({ id: i.id, address: `${this.ctx.host}:${i.port}` }));
  }

  async status(service: ServiceName): Promise<CanaryStatus> {
    const c = readCanary(this.ctx, service);
    const instances = canaryInstances(this.ctx).filter((i) => i.service === service);
    const ready = await Promise.all(instances.map((i) => probe(instanceComponent(this.ctx, i), this.ctx)));
    return {
      stableVersion: readRelease(this.ctx, service)?.version ?? VERSION,
      version: c?.version ?? null,
      replicas: c?.replicas ?? 0,
      ready: ready.filter(Boolean).length,
      weight: this.weight(service),
    };
  }

  async deploy(service: ServiceName, release: ReleaseSpec, replicas: number, progress: Progress): Promise<void> {
    this.supports(service);
    const existing = readCanary(this.ctx, service);
    if (
      existing &&
      (existing.version !== release.version ||
        existing.replicas !== replicas ||
        JSON.stringify(existing.env) !== JSON.stringify(release.env))
    ) {
      // A different canary (an earlier, unfinished rollout): replace it rather than mix versions.
      await this.remove(service, progress);
    }
    writeCanary(this.ctx, service, { version: release.version, env: release.env, replicas });
    const instances = canaryInstances(this.ctx).filter((i) => i.service === service);
    for (const inst of instances) {
      if (this.running(inst.id) === null && !(await portFree(this.ctx.host, inst.port))) {
        removeCanaryRecord(this.ctx, service);
        throw new UserError(MESSAGES.portInUse(inst.port, inst.id, "the canary port (the service's base port + 50)"));
      }
    }
    await Promise.all(
      instances.map(async (inst) => {
        const comp = instanceComponent(this.ctx, inst);
        let pid = this.running(inst.id);
        if (pid === null) {
          pid = startDetached(await comp.prepare(this.ctx), this.ctx.dir);
          this.ctx.state.components[inst.id] = { pid, startedAt: new Date().toISOString() };
          saveState(this.ctx);
          progress(`${inst.id}: started on ${release.version} (pid ${pid}, port ${inst.port})`);
        }
        await waitReady(this.ctx, comp, pid);
        progress(`${inst.id}: ready`);
      }),
    );
    // The canary joins the pool at weight 0: nginx sends it nothing yet, and `local up` leaves the pool alone.
    await this.setPool(service, { canary: true, weight: this.weight(service) });
    await registerServices(this.ctx); // Prometheus scrapes the canary instances too
  }

  async setWeight(service: ServiceName, weight: number): Promise<void> {
    this.supports(service);
    if (!readCanary(this.ctx, service)) throw new InternalError(`no canary of ${service} to weight`);
    await this.setPool(service, { canary: true, weight });
  }

  async remove(service: ServiceName, progress: Progress): Promise<void> {
    this.supports(service);
    const instances = canaryInstances(this.ctx).filter((i) => i.service === service);
    await this.setPool(service, { canary: false, weight: 0 });
    progress(`${service}: canary weight 0; draining ${instances.length} canary instance(s)`);
    await Promise.all(instances.map((i) => this.stop(i.id, progress)));
    removeCanaryRecord(this.ctx, service);
    await registerServices(this.ctx);
  }

  async promote(service: ServiceName, progress: Progress): Promise<void> {
    this.supports(service);
    const canary = readCanary(this.ctx, service);
    if (!canary) throw new InternalError(`no canary of ${service} to promote`);
    const current = readRelease(this.ctx, service);
    const stableRelease = { version: current?.version ?? VERSION, env: current?.env ?? {} };
    if (stableRelease.version !== canary.version || JSON.stringify(stableRelease.env) !== JSON.stringify(canary.env)) {
      await this.setWeight(service, 100);
      writeRelease(this.ctx, service, {
        version: canary.version,
        env: canary.env,
        previous: stableRelease,
        at: new Date().toISOString(),
      });
    }
    await this.restartStable(service, canary.version, progress);
    await this.remove(service, progress);
  }

  async undo(service: ServiceName, progress: Progress): Promise<ReleaseSpec> {
    this.supports(service);
    const current = readRelease(this.ctx, service);
    if (!current?.previous) throw new UserError(MESSAGES.rolloutNothingToUndo(service));
    const back = current.previous;
    writeRelease(this.ctx, service, {
      ...back,
      previous: { version: current.version, env: current.env },
      at: new Date().toISOString(),
    });
    await this.restartStable(service, back.version, progress);
    return back;
  }

  /** Replaces the stable instances one at a time: each drains (its clients reconnect elsewhere) and comes back on `version`. */
  private async restartStable(service: LocalService, version: string, progress: Progress): Promise<void> {
    for (const inst of serviceInstances(this.ctx).filter((i) => i.service === service)) {
      const comp = instanceComponent(this.ctx, inst);
      if (await probeVersion(this.ctx, inst.port, version)) continue; // already on it (a resumed promotion)
      await this.stop(inst.id, progress);
      const pid = startDetached(await comp.prepare(this.ctx), this.ctx.dir);
      this.ctx.state.components[inst.id] = { pid, startedAt: new Date().toISOString() };
      saveState(this.ctx);
      await waitReady(this.ctx, comp, pid);
      progress(`${inst.id}: ready on ${version}`);
    }
  }

  private running(id: string): number | null {
    const rec = this.ctx.state.components[id];
    return rec !== undefined && isOurs(rec.pid, this.ctx.dir) ? rec.pid : null;
  }

  private async stop(id: string, progress: Progress): Promise<void> {
    const pid = this.running(id);
    if (pid !== null) {
      // SIGTERM: a gateway tells its clients to reconnect and closes them over its drain window.
      const outcome = await stopGroup(pid, "SIGTERM", 20_000);
      progress(`${id}: ${outcome} (pid ${pid})`);
    }
    delete this.ctx.state.components[id];
    saveState(this.ctx);
  }
}

async function probe(comp: LocalComponent, ctx: LocalContext): Promise<boolean> {
  try {
    await comp.probe(ctx);
    return true;
  } catch {
    return false;
  }
}

async function probeVersion(ctx: LocalContext, port: number, version: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${ctx.host}:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { version?: string };
    return res.status === 200 && body.version === version;
  } catch {
    return false;
  }
}

async function waitReady(ctx: LocalContext, comp: LocalComponent, pid: number): Promise<void> {
  const deadline = Date.now() + comp.startTimeoutMs;
  let last = "";
  for (;;) {
    try {
      await comp.probe(ctx);
      return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (!pidAlive(pid))
      throw new InternalError(`${comp.id} exited during start-up (log: ${ctx.dir}/logs/${comp.id}.log)`);
    if (Date.now() > deadline)
      throw new InternalError(`${comp.id} not ready after ${comp.startTimeoutMs / 1000} s: ${last}`);
    await sleep(200);
  }
}
