import type { ConnectionOptions } from "node:tls";
import { Cluster } from "ioredis";
import type { RedisAuth } from "./data-auth.ts";

/**
 * A Redis Cluster client that rides out a primary failover instead of failing commands during it:
 * retryDelayOnFailover x maxRedirections (and the cluster-down retries) must cover cluster-node-timeout plus the
 * election, so commands wait for the new primary.
 */
export function createRedisCluster(
  nodes: string[],
  opts: { nodeTimeoutMs: number; tls?: ConnectionOptions | undefined; auth?: RedisAuth | undefined },
): Cluster {
  const delay = 200;
  const attempts = Math.ceil((opts.nodeTimeoutMs * 3 + 5000) / delay);
  return new Cluster(
    nodes.map((n) => {
      const [host, port] = n.split(":");
      return { host: host ?? "127.0.0.1", port: Number(port) };
    }),
    {
      retryDelayOnFailover: delay,
      retryDelayOnClusterDown: delay,
      retryDelayOnTryAgain: delay,
      maxRedirections: attempts,
      slotsRefreshTimeout: 2000,
      enableOfflineQueue: true,
      // Commands issued in one tick go to each node as one pipeline: a fan-out batch's presence look-ups cost
      // a round trip per node, not one per user.
      enableAutoPipelining: true,
      // AUTH goes to every node the client discovers (the cluster's nodes share one password or ACL user).
      redisOptions: {
        connectTimeout: 2000,
        maxRetriesPerRequest: attempts,
        ...(opts.tls ? { tls: opts.tls } : {}),
        ...(opts.auth ?? {}),
      },
      // With TLS, connect by the configured host name (the certificate's name), not by a resolved address.
      ...(opts.tls
        ? { dnsLookup: (address: string, cb: (err: Error | null, address: string) => void) => cb(null, address) }
        : {}),
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
    },
  );
}
