/**
 * Presence: which gateway instances hold a user's connections, kept two ways by the gateways.
 *
 * - Per user: `presence:{<userId>}` is a hash from the gateway's internal URL to its connection count for that user,
 *   with a TTL the gateway refreshes; a crashed gateway's entries expire on their own. A look-up of a few users (a
 *   1:1 batch, the user-center's presence API) reads these, one command per user.
 * - Per gateway: `online:{<gatewayUrl>}:<slice>` is the set of the users with a connection there whose id hashes to
 *   that slice (presenceSlice), and `presence:gateways` a sorted set of the gateways by when they last refreshed. A
 *   look-up of many users (a large group's fan-out) asks each live gateway's slices with SMISMEMBER (Redis 6.2 or
 *   later): for 10,000 members one command per gateway and slice instead of 10,000, about 5 ms of a message instance's
 *   time instead of 60-150 ms (measured here against a local redis-server 7.0 with ioredis).
 *
 * Both are written on connect and disconnect and re-asserted by the gateway's refresh (after a Redis failover that
 * lost recent writes). A gateway that predates the sets does not announce itself in `presence:gateways`, so its users
 * are not found by a many-user look-up: upgrade the gateways before the message service (docs/messaging.md).
 */
import type { Cluster } from "ioredis";
import { fnv1a32 } from "./sub-groups.ts";

export const PRESENCE_TTL_SECONDS = 90;
/** Slices of a gateway's online set, and of its presence refresh (one slice per refresh tick). */
export const PRESENCE_SLICES = 20;
/** Look-ups of at least this many users read the gateways' online sets instead of one hash per user. */
export const BULK_LOOKUP_MIN = 32;
export const GATEWAYS_KEY = "presence:gateways";

const key = (userId: string) => `presence:{${userId}}`;
const onlineKey = (gatewayUrl: string, slice: number) => `online:{${gatewayUrl}}:${slice}`;

/** A user's slice: a hash of its id (FNV-1a), so every slice gets its share. */
export function presenceSlice(userId: string): number {
  return fnv1a32(userId) % PRESENCE_SLICES;
}

export async function connected(redis: Cluster, userId: string, gatewayUrl: string): Promise<void> {
  const online = onlineKey(gatewayUrl, presenceSlice(userId));
  await Promise.all([
    redis.multi().hincrby(key(userId), gatewayUrl, 1).expire(key(userId), PRESENCE_TTL_SECONDS).exec(),
    redis.multi().sadd(online, userId).expire(online, PRESENCE_TTL_SECONDS).exec(),
  ]);
}

export async function disconnected(redis: Cluster, userId: string, gatewayUrl: string): Promise<void> {
  const left = await redis.hincrby(key(userId), gatewayUrl, -1);
  if (left <= 0)
    await Promise.all([
      redis.hdel(key(userId), gatewayUrl),
      redis.srem(onlineKey(gatewayUrl, presenceSlice(userId)), userId),
    ]);
}

/** Says this gateway is alive (its online sets count): on its first connection and on every refresh. */
export async function announce(redis: Cluster, gatewayUrl: string): Promise<void> {
  const now = Date.now();
  await redis.zadd(GATEWAYS_KEY, now, gatewayUrl);
  // Gateways gone for ten TTLs leave the list (their sets expired long ago).
  await redis.zremrangebyscore(GATEWAYS_KEY, "-inf", now - 10 * PRESENCE_TTL_SECONDS * 1000);
}

/**
 * Re-asserts one slice of this gateway's users (after a Redis failover may have lost recent writes) and extends the
 * TTLs: each user's count, and the slice's online set, from which members no longer connected here are removed
 * (`still` is asked when the set has been read, so a user who connected meanwhile stays).
 */
export async function refresh(
  redis: Cluster,
  gatewayUrl: string,
  slice: number,
  counts: Map<string, number>,
  still: (userId: string) => boolean,
): Promise<void> {
  const online = onlineKey(gatewayUrl, slice);
  const users = [...counts.keys()];
  await Promise.all([
    ...[...counts].map(([userId, n]) =>
      redis.multi().hset(key(userId), gatewayUrl, n).expire(key(userId), PRESENCE_TTL_SECONDS).exec(),
    ),
    users.length > 0
      ? redis
          .multi()
          .sadd(online, ...users)
          .expire(online, PRESENCE_TTL_SECONDS)
          .exec()
      : undefined,
    announce(redis, gatewayUrl),
  ]);
  const stale = (await redis.smembers(online)).filter((u) => !still(u));
  if (stale.length > 0) await redis.srem(online, ...stale);
}

/** The gateways that refreshed within the TTL, read at most once a second per client. */
const liveGateways = new WeakMap<Cluster, { at: number; urls: Promise<string[]> }>();

async function gatewaysAlive(redis: Cluster): Promise<string[]> {
  const now = Date.now();
  const had = liveGateways.get(redis);
  if (had && now - had.at < 1000) return had.urls;
  const urls = redis.zrangebyscore(GATEWAYS_KEY, now - PRESENCE_TTL_SECONDS * 1000, "+inf");
  liveGateways.set(redis, { at: now, urls });
  urls.catch(() => liveGateways.delete(redis));
  return urls;
}

/** Gateway URLs holding each user's connections. Users with none are left out. */
export async function lookup(redis: Cluster, userIds: string[]): Promise<Map<string, string[]>> {
  if (userIds.length >= BULK_LOOKUP_MIN) return lookupMany(redis, userIds);
  const out = new Map<string, string[]>();
  const results = await Promise.all(userIds.map((u) => redis.hgetall(key(u))));
  userIds.forEach((u, i) => {
    const gws = Object.entries(results[i] ?? {})
      .filter(([, n]) => Number(n) > 0)
      .map(([url]) => url);
    if (gws.length > 0) out.set(u, gws);
  });
  return out;
}

/** Many users: each live gateway's online sets, one SMISMEMBER per gateway and slice. */
async function lookupMany(redis: Cluster, userIds: string[]): Promise<Map<string, string[]>> {
  const bySlice = new Map<number, string[]>();
  for (const u of userIds) {
    const s = presenceSlice(u);
    const list = bySlice.get(s);
    if (list) list.push(u);
    else bySlice.set(s, [u]);
  }
  const gateways = await gatewaysAlive(redis);
  const out = new Map<string, string[]>();
  await Promise.all(
    gateways.flatMap((gw) =>
      [...bySlice].map(async ([slice, users]) => {
        const here = await redis.smismember(onlineKey(gw, slice), ...users);
        here.forEach((yes, i) => {
          if (yes !== 1) return;
          const u = users[i]!;
          const list = out.get(u);
          if (list) list.push(gw);
          else out.set(u, [gw]);
        });
      }),
    ),
  );
  return out;
}
