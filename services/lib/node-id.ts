/**
 * Node ids for the id generator, leased from Redis Cluster when the platform does not assign them: pods of one
 * Deployment share their environment, so a fixed NODE_ID would be the same in every replica and their ids would
 * collide. Each instance claims a free id (SET NX with a TTL) and renews it; an id whose owner died expires and is
 * reused.
 *
 * Safety: a renewal that finds the id held by another owner means two instances could mint the same ids, so the
 * owner is told (the service exits and is restarted with a fresh lease). Redis replication is asynchronous, so a
 * failover can lose a lease; the renewal then claims it again. Should two owners ever overlap anyway, the
 * database's primary key refuses the second copy of an id and the sender retries: ids are never stored twice.
 */
import { randomBytes } from "node:crypto";
import type { Cluster } from "ioredis";

export const NODE_IDS = 1024;
/** How long a lease lives without renewal. */
export const LEASE_TTL_MS = 30_000;

const key = (id: number) => `im:node-id:{${id}}`;

// Extends the lease only when this owner still holds it: 1 extended, 0 missing, -1 held by another owner.
const RENEW = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if v == false then return 0 end
return -1`;

export class NodeIdLease {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly redis: Cluster,
    readonly id: number,
    private readonly owner: string,
    private readonly ttlMs: number,
  ) {}

  /**
   * Claims a free node id, starting from a random one so that instances starting together rarely race.
   * @param onLost called when the id turned out to be held by another owner (stop minting ids).
   */
  static async acquire(
    redis: Cluster,
    instance: string,
    opts: { ttlMs?: number; onLost: (why: string) => void; onError?: (err: Error) => void },
  ): Promise<NodeIdLease> {
    const ttlMs = opts.ttlMs ?? LEASE_TTL_MS;
    const owner = `${instance}/${randomBytes(6).toString("hex")}`;
    const start = Math.floor(Math.random() * NODE_IDS);
    for (let i = 0; i < NODE_IDS; i++) {
      const id = (start + i) % NODE_IDS;
      if ((await redis.set(key(id), owner, "PX", ttlMs, "NX")) === "OK") {
        const lease = new NodeIdLease(redis, id, owner, ttlMs);
        lease.timer = setInterval(
          () =>
            void lease.renew().then(
              (r) => r === "lost" && opts.onLost(`node id ${id} is now held by another instance`),
              (err: Error) => opts.onError?.(err),
            ),
          Math.floor(ttlMs / 3),
        );
        lease.timer.unref();
        return lease;
      }
    }
    throw new Error(`all ${NODE_IDS} node ids are leased: more than ${NODE_IDS} instances mint ids at once`);
  }

  /** Extends the lease, or claims it again if a failover lost it. */
  async renew(): Promise<"held" | "reclaimed" | "lost"> {
    const r = Number(await this.redis.eval(RENEW, 1, key(this.id), this.owner, String(this.ttlMs)));
    if (r === 1) return "held";
    if (r === 0 && (await this.redis.set(key(this.id), this.owner, "PX", this.ttlMs, "NX")) === "OK")
      return "reclaimed";
    return "lost";
  }

  /** Gives the id back (on a clean shutdown), if this owner still holds it. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.eval(
      `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
      1,
      key(this.id),
      this.owner,
    );
  }
}

/**
 * The node id of this instance: the configured one, or a lease (NODE_ID=lease, the default). A lost lease stops
 * the process (exit 1): the orchestrator restarts it with a fresh id.
 */
export async function nodeIdFor(
  configured: number | "lease",
  redis: Cluster,
  instance: string,
  log: { info(o: object, m: string): void; warn(o: object, m: string): void; fatal(o: object, m: string): void },
): Promise<{ id: number; release(): Promise<void> }> {
  if (configured !== "lease") return { id: configured, release: async () => undefined };
  const lease = await NodeIdLease.acquire(redis, instance, {
    onLost: (why) => {
      log.fatal({ why }, "node id lease lost; exiting so that no id is minted twice");
      process.exit(1);
    },
    onError: (err) => log.warn({ err: err.message }, "node id lease renewal failed; retrying"),
  });
  log.info({ nodeId: lease.id }, "node id leased");
  return { id: lease.id, release: () => lease.release().catch(() => undefined) };
}
