import mysql from "mysql2/promise";
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
}

/** A connection pool; BIGINT columns come back as strings (ids exceed 2^53). */
/**
 * @param opts.multipleStatements lets one query carry several statements (the message service's batches send a
 *   whole transaction in one round trip); every value still goes through placeholders.
 */
export function createDbPool(cfg: DbConfig, opts: { multipleStatements?: boolean } = {}): mysql.Pool {
  const ssl = tlsOptions("DB", cfg.DB_TLS ?? false, cfg.DB_TLS_CA_FILE);
  return mysql.createPool({
    ...(ssl ? { ssl: { rejectUnauthorized: true, ...(typeof ssl.ca === "string" ? { ca: ssl.ca } : {}) } } : {}),
    host: cfg.DB_HOST,
    port: cfg.DB_PORT,
    user: cfg.DB_USER,
    password: cfg.DB_PASSWORD,
    database: cfg.DB_NAME,
    connectionLimit: cfg.DB_POOL,
    supportBigNumbers: true,
    bigNumberStrings: true,
    connectTimeout: 3000,
    enableKeepAlive: true,
    multipleStatements: opts.multipleStatements ?? false,
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
