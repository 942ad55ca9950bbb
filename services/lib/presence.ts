/**
 * Presence: which gateway instances hold a user's connections. `presence:{<userId>}` is a hash from the
 * gateway's internal URL to its connection count for that user, with a TTL the gateway refreshes; a crashed
 * gateway's entries expire on their own.
 */
import type { Cluster } from "ioredis";

export const PRESENCE_TTL_SECONDS = 90;

const key = (userId: string) => `presence:{${userId}}`;

export async function connected(redis: Cluster, userId: string, gatewayUrl: string): Promise<void> {
  await redis.multi().hincrby(key(userId), gatewayUrl, 1).expire(key(userId), PRESENCE_TTL_SECONDS).exec();
}

export async function disconnected(redis: Cluster, userId: string, gatewayUrl: string): Promise<void> {
  const left = await redis.hincrby(key(userId), gatewayUrl, -1);
  if (left <= 0) await redis.hdel(key(userId), gatewayUrl);
}

/** Re-asserts this gateway's counts (after a Redis failover may have lost recent writes) and extends the TTLs. */
export async function refresh(redis: Cluster, gatewayUrl: string, counts: Map<string, number>): Promise<void> {
  await Promise.all(
    [...counts].map(([userId, n]) =>
      redis.multi().hset(key(userId), gatewayUrl, n).expire(key(userId), PRESENCE_TTL_SECONDS).exec(),
    ),
  );
}

/** Gateway URLs holding each user's connections. Users with none are left out. */
export async function lookup(redis: Cluster, userIds: string[]): Promise<Map<string, string[]>> {
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
