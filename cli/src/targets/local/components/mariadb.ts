import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import mysql from "mysql2/promise";
import { migrate, type MigrationResult } from "../../../../../services/lib/migrate.ts";
import { logFile, type LocalComponent, type LocalContext } from "../context.ts";

// TiDB's default SQL mode, so the local stand-in rejects what production would reject.
const TIDB_SQL_MODE =
  "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION";

export const mariadbPaths = (ctx: Pick<LocalContext, "dir">) => {
  const root = join(ctx.dir, "mariadb");
  return { root, data: join(root, "data"), socket: join(root, "mysqld.sock"), binlog: join(root, "binlog") };
};

const runAsRoot = () => (process.getuid?.() === 0 ? ["--user=root"] : []);

export function mariadbComponent(ctx: LocalContext): LocalComponent {
  const port = ctx.spec.local.ports.database;
  return {
    id: "mariadb",
    group: "database",
    tools: ["mariadbd", "mariadb-install-db"],
    ports: [{ port, field: "local.ports.database" }],
    endpoint: `${ctx.host}:${port}`,
    startTimeoutMs: 60_000,
    stop: { signal: "SIGTERM", graceMs: 30_000 },
    async prepare(c) {
      const p = mariadbPaths(c);
      mkdirSync(p.root, { recursive: true });
      if (!existsSync(join(p.data, "mysql"))) {
        await execa(c.tool("mariadb-install-db"), [
          "--no-defaults",
          `--datadir=${p.data}`,
          "--auth-root-authentication-method=normal",
          "--skip-test-db",
          ...runAsRoot(),
        ]);
      }
      return {
        bin: c.tool("mariadbd"),
        args: [
          "--no-defaults",
          `--datadir=${p.data}`,
          `--socket=${p.socket}`,
          `--pid-file=${join(p.root, "mariadbd.pid")}`,
          `--bind-address=${c.host}`,
          `--port=${port}`,
          ...runAsRoot(),
          "--skip-name-resolve",
          "--character-set-server=utf8mb4",
          "--collation-server=utf8mb4_bin",
          `--sql-mode=${TIDB_SQL_MODE}`,
          "--max-connections=1000",
          "--innodb-buffer-pool-size=256M",
          // Durable like TiDB's RPO 0: every commit is on disk before it is acknowledged.
          "--innodb-flush-log-at-trx-commit=1",
          "--sync-binlog=1",
          `--log-bin=${p.binlog}`,
          "--server-id=1",
          "--binlog-format=ROW",
          "--log-error=",
        ],
        cwd: p.root,
        logFile: logFile(c, "mariadb"),
      };
    },
    async probe(c) {
      // Root over the socket works both before the platform's users exist and after.
      const conn = await rootConnection(c);
      try {
        const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT VERSION() AS v");
        return `accepting queries (${String(rows[0]?.v ?? "?")})`;
      } finally {
        await conn.end();
      }
    },
  };
}

/** A connection as the services' user (TCP, like the services connect). */
export function appConnection(
  ctx: Pick<LocalContext, "spec" | "host" | "secrets">,
  opts: { database?: string | undefined } = {},
) {
  return mysql.createConnection({
    host: ctx.host,
    port: ctx.spec.local.ports.database,
    user: ctx.secrets.dbAppUser,
    password: ctx.secrets.dbAppPassword,
    database: "database" in opts ? opts.database : ctx.spec.data.database.name,
    connectTimeout: 2000,
  });
}

export async function rootConnection(ctx: Pick<LocalContext, "dir" | "secrets">): Promise<mysql.Connection> {
  const socketPath = mariadbPaths(ctx).socket;
  // A fresh data directory has a root without a password; afterwards the generated one applies.
  for (const password of [ctx.secrets.dbRootPassword, ""]) {
    try {
      return await mysql.createConnection({ socketPath, user: "root", password, multipleStatements: false });
    } catch (err) {
      if ((err as { code?: string }).code !== "ER_ACCESS_DENIED_ERROR") throw err;
    }
  }
  throw new Error(
    `cannot log in to MariaDB as root over ${socketPath}: the data directory was made by another state; run "imctl local reset --yes"`,
  );
}

/** Users (services, exporter), the platform's schema, and its migrations. Idempotent. */
export async function ensureDatabase(ctx: LocalContext, note: (msg: string) => void): Promise<MigrationResult> {
  const s = ctx.secrets;
  const db = ctx.spec.data.database.name;
  const root = await rootConnection(ctx);
  try {
    await root.query("ALTER USER 'root'@'localhost' IDENTIFIED BY ?", [s.dbRootPassword]);
    // Over loopback TCP too (skip-name-resolve: such clients are 127.0.0.1, not localhost): the migrations of a
    // cluster stack whose external data tier is this platform (the embedded cluster's pods) sign in so.
    await root.query("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ?", [s.dbRootPassword]);
    await root.query("ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY ?", [s.dbRootPassword]);
    await root.query("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION");
    await root.query(`CREATE DATABASE IF NOT EXISTS \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    for (const host of ["127.0.0.1", "localhost"]) {
      await root.query("CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?", [s.dbAppUser, host, s.dbAppPassword]);
      await root.query("ALTER USER ?@? IDENTIFIED BY ?", [s.dbAppUser, host, s.dbAppPassword]);
      await root.query(`GRANT ALL PRIVILEGES ON \`${db}\`.* TO ?@?`, [s.dbAppUser, host]);
      await root.query("CREATE USER IF NOT EXISTS 'exporter'@? IDENTIFIED BY ? WITH MAX_USER_CONNECTIONS 3", [
        host,
        s.dbExporterPassword,
      ]);
      await root.query("ALTER USER 'exporter'@? IDENTIFIED BY ?", [host, s.dbExporterPassword]);
      await root.query("GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO 'exporter'@?", [host]);
    }
  } finally {
    await root.end();
  }
  const conn = await appConnection(ctx);
  try {
    const result = await migrate(conn);
    if (result.applied.length > 0) note(`applied migrations: ${result.applied.join(", ")}`);
    return result;
  } finally {
    await conn.end();
  }
}
