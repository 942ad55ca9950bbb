/**
 * What the local target knows about releases, as files in its state directory, so `local up`, `status` and
 * `down` see them too:
 * - `releases/<service>.json`: the version (and extra environment) the stable instances run once a rollout
 *   promoted one, with the release before it (for `imctl rollout undo`);
 * - `canary/<service>.json`: the canary track while a rollout runs: version, instance count, environment;
 * - `canary/message-upstream.json`: the message canary's instances and weight the gateways apply (the message
 *   service sits behind the gateways, not nginx), so a gateway that restarts during the rollout keeps the split.
 * Canary instance n of a service listens on the service's base port + 50 + n - 1 and gets node id
 * (service index * 100) + 50 + n - 1, so ids never collide with the stable instances'.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { writeAtomic } from "../../lib/files.ts";
import type { LocalContext } from "./context.ts";

export type LocalService = "gateway" | "message" | "user-center";

/** Stack field of each service's base port, and its index in node ids (the order services.ts uses). */
export const SERVICE_SLOTS: Record<LocalService, { spec: "gateway" | "message" | "userCenter"; index: number }> = {
  "user-center": { spec: "userCenter", index: 0 },
  message: { spec: "message", index: 1 },
  gateway: { spec: "gateway", index: 2 },
};

/** Canary ports sit this far above the service's base port (the stable instances use the first ones). */
export const CANARY_PORT_OFFSET = 50;

const release = z.object({ version: z.string().min(1), env: z.record(z.string(), z.string()) });
const releaseRecord = release.extend({ previous: release.nullable(), at: z.string() });
const canaryRecord = release.extend({ replicas: z.number().int().min(1).max(CANARY_PORT_OFFSET) });

export type Release = z.infer<typeof release>;
export type ReleaseRecord = z.infer<typeof releaseRecord>;
export type CanaryRecord = z.infer<typeof canaryRecord>;

const releaseFile = (ctx: Pick<LocalContext, "dir">, s: LocalService) => join(ctx.dir, "releases", `${s}.json`);
const canaryFile = (ctx: Pick<LocalContext, "dir">, s: LocalService) => join(ctx.dir, "canary", `${s}.json`);

function read<T>(file: string, schema: z.ZodType<T>): T | undefined {
  if (!existsSync(file)) return undefined;
  return schema.parse(JSON.parse(readFileSync(file, "utf8")));
}

function write(file: string, value: unknown): void {
  writeAtomic(file, JSON.stringify(value, null, 2));
}

export const readRelease = (ctx: Pick<LocalContext, "dir">, s: LocalService) =>
  read(releaseFile(ctx, s), releaseRecord);
export const writeRelease = (ctx: Pick<LocalContext, "dir">, s: LocalService, r: ReleaseRecord) =>
  write(releaseFile(ctx, s), r);
export const readCanary = (ctx: Pick<LocalContext, "dir">, s: LocalService) => read(canaryFile(ctx, s), canaryRecord);
export const writeCanary = (ctx: Pick<LocalContext, "dir">, s: LocalService, c: CanaryRecord) =>
  write(canaryFile(ctx, s), c);
export const removeCanaryRecord = (ctx: Pick<LocalContext, "dir">, s: LocalService) =>
  rmSync(canaryFile(ctx, s), { force: true });

const messageUpstream = z.object({ urls: z.array(z.string()), weight: z.number().int().min(0).max(100) });
export type MessageUpstreamRecord = z.infer<typeof messageUpstream>;
const messageUpstreamFile = (ctx: Pick<LocalContext, "dir">) => join(ctx.dir, "canary", "message-upstream.json");
export const readMessageUpstream = (ctx: Pick<LocalContext, "dir">) => read(messageUpstreamFile(ctx), messageUpstream);
export function writeMessageUpstream(ctx: Pick<LocalContext, "dir">, r: MessageUpstreamRecord): void {
  if (r.urls.length === 0) rmSync(messageUpstreamFile(ctx), { force: true });
  else write(messageUpstreamFile(ctx), r);
}

export interface CanaryInstance {
  id: string;
  service: LocalService;
  port: number;
  nodeId: number;
  release: Release;
}

/** The canary instances the state directory records, for every service (none when no rollout runs). */
export function canaryInstances(ctx: Pick<LocalContext, "dir" | "spec">): CanaryInstance[] {
  const out: CanaryInstance[] = [];
  for (const service of Object.keys(SERVICE_SLOTS) as LocalService[]) {
    const c = readCanary(ctx, service);
    if (!c) continue;
    const slot = SERVICE_SLOTS[service];
    for (let i = 0; i < c.replicas; i++) {
      out.push({
        id: `${service}-canary-${i + 1}`,
        service,
        port: ctx.spec.local.ports[slot.spec] + CANARY_PORT_OFFSET + i,
        nodeId: slot.index * 100 + CANARY_PORT_OFFSET + i,
        release: { version: c.version, env: c.env },
      });
    }
  }
  return out;
}
