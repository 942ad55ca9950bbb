import mysql from "mysql2/promise";
import { DB_QUEUE_LIMIT, DB_TIMEOUT_MS } from "./config.ts";
import { ApiError } from "./errors.ts";
import { tlsOptions } from "./tls.ts";

export interface DbConfig {
  DB_HOST: string;
  DB_PORT: number;
  DB_USER: string;
  DB_PASSWORD: string;
  DB_NAME: string;
  DB_POOL: number;
  DB_TLS?: boolean;
  DB_TLS_CA_FILE?: string | undefined;
  /** Longest wait for a connection and for one statement, ms. Default DB_TIMEOUT_MS. */
  DB_TIMEOUT_MS?: number;
  /** Most callers waiting for a connection. Default DB_QUEUE_LIMIT. */
  DB_QUEUE_LIMIT?: number;
}

export { DB_QUEUE_LIMIT, DB_TIMEOUT_MS };

export const DB_BUSY = "database: too many requests waiting for a connection; retry later";

/**
 * A database call that did not finish within its budget, or found the pool's wait queue full: retryable, and
 * counted apart from a broken statement.
 */
export class DbTimeoutError extends ApiError {
  readonly dbTimeout = true;
}

/** Why a call is bounded: a database that stopped answering must cost each caller a bounded wait, not a hang. */
function deadline<T>(what: string, ms: number, work: Promise<T>, onLate: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      onLate();
      reject(new DbTimeoutError("unavailable", `database: ${what} took over ${ms} ms; retry`));
    }, ms);
    work.then(
      (v) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const e = err as { message?: string };
        reject(
          e.message === "Queue limit reached."
            ? new DbTimeoutError("overloaded", DB_BUSY)
            : err instanceof Error
              ? err
              : new Error(String(err)),
        );
      },
    );
  });
}

/**
 * Every statement on `c` answers within `ms`; one that does not is failed and its connection destroyed (never
 * returned to the pool with a statement still running; the server rolls its transaction back).
 */
const STATEMENTS = new Set<string | symbol>(["query", "execute", "beginTransaction", "commit", "rollback"]);

function timedConnection(c: mysql.PoolConnection, ms: number): mysql.PoolConnection {
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    c.destroy();
  };
  return new Proxy(c, {
    get(target, prop, receiver) {
      if (STATEMENTS.has(prop)) {
        const fn = Reflect.get(target, prop, receiver) as (...a: unknown[]) => Promise<unknown>;
        return (...args: unknown[]) => deadline(`a statement`, ms, fn.apply(target, args), destroy);
      }
      if (prop === "release") return () => (destroyed ? undefined : target.release());
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** A connection from `pool` within `ms` (one that arrives later is given back), its statements bounded by `ms`. */
function timedAcquire(pool: mysql.Pool, ms: number): Promise<mysql.PoolConnection> {
  let late = false;
  const p = pool.getConnection();
  return deadline("waiting for a connection", ms, p, () => {
    late = true;
    p.then((c) => c.release()).catch(() => undefined);
  }).then((c) => {
    if (late) throw new DbTimeoutError("unavailable", "database: connection came too late");
    return timedConnection(c, ms);
  });
}

/**
 * A connection pool; BIGINT columns come back as strings (ids exceed 2^53). Every call is bounded: at most
 * `DB_QUEUE_LIMIT` callers wait for a connection (beyond, a retryable `overloaded`), a connection comes within
 * `DB_TIMEOUT_MS` and each statement answers within it (else a retryable `unavailable`). Without the bounds, a
 * killed database let waiting calls pile up without limit, and readiness checks queued behind them.
 *
 * @param opts.multipleStatements lets one query carry several statements (the message service's batches send a
 *   whole transaction in one round trip); every value still goes through placeholders.
 */
export function createDbPool(cfg: DbConfig, opts: { multipleStatements?: boolean } = {}): mysql.Pool {
  const ms = cfg.DB_TIMEOUT_MS ?? DB_TIMEOUT_MS;
  const pool = rawPool(cfg, opts);
  return new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === "getConnection") return () => timedAcquire(target, ms);
      if (prop === "query" || prop === "execute") {
        return async (...args: unknown[]) => {
          const c = await timedAcquire(target, ms);
          try {
            return await (c[prop] as (...a: unknown[]) => Promise<unknown>)(...args);
          } finally {
            c.release();
          }
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

function rawPool(cfg: DbConfig, opts: { multipleStatements?: boolean }): mysql.Pool {
  const ssl = tlsOptions("DB", cfg.DB_TLS ?? false, cfg.DB_TLS_CA_FILE);
  return mysql.createPool({
    ...(ssl ? { ssl: { rejectUnauthorized: true, ...(typeof ssl.ca === "string" ? { ca: ssl.ca } : {}) } } : {}),
    host: cfg.DB_HOST,
    port: cfg.DB_PORT,
    user: cfg.DB_USER,
    password: cfg.DB_PASSWORD,
    database: cfg.DB_NAME,
    connectionLimit: cfg.DB_POOL,
    queueLimit: cfg.DB_QUEUE_LIMIT ?? DB_QUEUE_LIMIT,
    supportBigNumbers: true,
    bigNumberStrings: true,
    connectTimeout: 3000,
    enableKeepAlive: true,
    multipleStatements: opts.multipleStatements ?? false,
    // No stack captured at every query for the error it might throw: 2 % of the message service's CPU at 2,000
    // msg/s (issue 23). Database errors are logged by their code and message, never by the caller's stack.
    trace: false,
  });
}

/** Runs `fn` in a transaction; retries deadlocks and lock-wait timeouts, which a concurrent fan-out can cause. */
export async function inTransaction<T>(
  pool: mysql.Pool,
  fn: (conn: mysql.PoolConnection) => Promise<T>,
  attempts = 5,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const conn = await pool.getConnection();
    try {
      await conn.beginTransaction();
      const out = await fn(conn);
      await conn.commit();
      return out;
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      const code = (err as { code?: string }).code;
      if (attempt < attempts && (code === "ER_LOCK_DEADLOCK" || code === "ER_LOCK_WAIT_TIMEOUT")) continue;
      throw err;
    } finally {
      conn.release();
    }
  }
}
