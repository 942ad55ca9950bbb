/**
 * Bandwidth capabilities of the local target: the gateways' egress caps, changed at run time through each
 * instance's admin route and recorded in the local state (`egressCaps`), which `serviceEnv` passes to a restarted
 * gateway, so an upgrade survives a restart and a rollback undoes both.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError, MESSAGES } from "../../errors.ts";
import type { ConfigSnapshot, GatewayCap } from "../target.ts";
import type { LocalContext, LocalState } from "./context.ts";
import { serviceInstances } from "./components/services.ts";

const CAP_METRIC = /^im_gateway_egress_cap_bytes_per_second(?:\{[^}]*\})?\s+(\S+)/m;

function gateways(ctx: LocalContext): Array<{ id: string; endpoint: string }> {
  return serviceInstances(ctx)
    .filter((i) => i.service === "gateway")
    .map((i) => ({ id: i.id, endpoint: `http://${ctx.host}:${i.port}` }));
}

function gateway(ctx: LocalContext, instance: string): { id: string; endpoint: string } {
  const all = gateways(ctx);
  const g = all.find((x) => x.id === instance);
  if (g === undefined)
    throw new UserError(
      MESSAGES.unknownGateway(
        instance,
        all.map((x) => x.id),
      ),
    );
  return g;
}

/** The cap an instance enforces, from its own /metrics (Prometheus would lag by a scrape). */
async function readCap(endpoint: string): Promise<number> {
  const res = await fetch(`${endpoint}/metrics`, { signal: AbortSignal.timeout(3000) });
  const m = CAP_METRIC.exec(await res.text());
  if (!m) throw new Error(`${endpoint}/metrics has no im_gateway_egress_cap_bytes_per_second`);
  return Number(m[1]);
}

export async function gatewayCaps(ctx: LocalContext): Promise<GatewayCap[]> {
  return Promise.all(gateways(ctx).map(async (g) => ({ instance: g.id, bytesPerSecond: await readCap(g.endpoint) })));
}

const stateFile = (ctx: LocalContext) => join(ctx.dir, "state.json");

/**
 * Rewrites only `egressCaps` of the state file as it is on disk now (other fields may have changed since this
 * process read it); the caller holds the target lock, so no other imctl writes it meanwhile.
 */
function writePersisted(ctx: LocalContext, caps: Record<string, number> | null): void {
  const file = stateFile(ctx);
  const state = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as LocalState) : ctx.state;
  if (caps === null) delete state.egressCaps;
  else state.egressCaps = caps;
  ctx.state.egressCaps = state.egressCaps;
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2));
  renameSync(tmp, file);
}

function readPersisted(ctx: LocalContext): Record<string, number> | null {
  const file = stateFile(ctx);
  if (!existsSync(file)) return null;
  return (JSON.parse(readFileSync(file, "utf8")) as LocalState).egressCaps ?? null;
}

async function putCap(ctx: LocalContext, endpoint: string, bytesPerSecond: number): Promise<void> {
  const res = await fetch(`${endpoint}/admin/v1/egress-cap`, {
    method: "PUT",
    headers: { "content-type": "application/json", "x-im-internal": ctx.secrets.internalToken },
    body: JSON.stringify({ bytesPerSecond }),
    signal: AbortSignal.timeout(5000),
  });
  if (res.status !== 200)
    throw new Error(`PUT ${endpoint}/admin/v1/egress-cap answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
}

export async function setGatewayCap(ctx: LocalContext, instance: string, bytesPerSecond: number): Promise<void> {
  const g = gateway(ctx, instance);
  await putCap(ctx, g.endpoint, bytesPerSecond);
  writePersisted(ctx, { ...(readPersisted(ctx) ?? {}), [instance]: bytesPerSecond });
}

export async function snapshotConfig(ctx: LocalContext): Promise<ConfigSnapshot> {
  return {
    takenAt: new Date().toISOString(),
    target: "local",
    gatewayCaps: await gatewayCaps(ctx),
    persistedCaps: readPersisted(ctx),
  };
}

export async function restoreConfig(ctx: LocalContext, snapshot: ConfigSnapshot): Promise<void> {
  // Every instance first, then the record: a failure part-way leaves the record as the upgrade left it, so a
  // second rollback still knows what to undo.
  for (const c of snapshot.gatewayCaps) await putCap(ctx, gateway(ctx, c.instance).endpoint, c.bytesPerSecond);
  writePersisted(ctx, snapshot.persistedCaps);
}
