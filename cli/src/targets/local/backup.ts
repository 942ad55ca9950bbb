/**
 * The database restore drill on the local target: back up the platform's database with mariadb-dump, destroy it
 * (DROP DATABASE), restore it from the backup with the mariadb client, and verify every table's row count and
 * CHECKSUM TABLE against the figures taken when the backup was made. The RTO is measured from the destruction to
 * the verified restore with every component healthy again.
 *
 * Writes are held off (FLUSH TABLES WITH READ LOCK) while the backup and its checksums are taken, so the
 * checksums describe exactly what the backup holds; what the services write between the backup and the destruction
 * is lost by design, as in any restore from a backup (its RPO is the age of the backup). From the destruction until
 * the restored tables are verified the server is read-only for the services (`read_only`; root restores and
 * verifies): a service's write then would land in a database that is gone or half restored, and one that arrives
 * late (a statement held up in the network, retransmitted after a partition heals) would make the verification
 * compare the backup with data the backup never held. A drill command interrupted in that window leaves the server
 * read-only; the next drill command makes it writable again (allowWrites).
 */
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import type mysql from "mysql2/promise";
import type { DatabaseRestoreResult, TableCheck } from "../faults.ts";
import { mariadbPaths, rootConnection } from "./components/mariadb.ts";
import { localContext, up, type Progress } from "./platform.ts";

interface TableFigures {
  rows: number;
  checksum: string;
}

async function figures(conn: mysql.Connection, db: string): Promise<Map<string, TableFigures>> {
  const [tables] = await conn.query<mysql.RowDataPacket[]>(
    "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    [db],
  );
  const out = new Map<string, TableFigures>();
  for (const row of tables) {
    const t = String(row.t);
    const [count] = await conn.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${db}\`.\`${t}\``);
    const [sum] = await conn.query<mysql.RowDataPacket[]>(`CHECKSUM TABLE \`${db}\`.\`${t}\` EXTENDED`);
    out.set(t, { rows: Number(count[0]?.n ?? 0), checksum: String(sum[0]?.Checksum ?? "null") });
  }
  return out;
}

export async function databaseRestoreDrill(stack: string, progress: Progress): Promise<DatabaseRestoreResult> {
  const ctx = localContext(stack);
  const db = ctx.spec.data.database.name;
  const dir = join(ctx.dir, "backups");
  mkdirSync(dir, { recursive: true });
  const backupFile = join(dir, `${db}-${new Date().toISOString().replace(/[:.]/g, "-")}.sql`);
  const socket = mariadbPaths(ctx).socket;
  const auth = ["--no-defaults", "--user=root", `--socket=${socket}`];
  const env = { MYSQL_PWD: ctx.secrets.dbRootPassword };

  // 1. Backup, with the checksums of exactly what it holds.
  const t0 = Date.now();
  const lock = await rootConnection(ctx);
  let before: Map<string, TableFigures>;
  try {
    await lock.query("FLUSH TABLES WITH READ LOCK");
    progress(`backup: writes held off; dumping ${db} to ${backupFile}`);
    await execa(
      ctx.tool("mariadb-dump"),
      [
        ...auth,
        "--single-transaction",
        "--routines",
        "--triggers",
        "--hex-blob",
        `--result-file=${backupFile}`,
        "--databases",
        db,
      ],
      { env },
    );
    before = await figures(lock, db);
  } finally {
    await lock.query("UNLOCK TABLES").catch(() => undefined);
    await lock.end();
  }
  const backupSeconds = (Date.now() - t0) / 1000;
  const backupBytes = statSync(backupFile).size;
  progress(`backup: ${before.size} tables, ${(backupBytes / 1024).toFixed(0)} KiB in ${backupSeconds.toFixed(1)} s`);

  // 2. Destroy. 3. Restore (the dump recreates the database). The clock of the RTO runs from here.
  const t1 = Date.now();
  const conn = await rootConnection(ctx);
  let after: Map<string, TableFigures>;
  let restoreSeconds: number;
  try {
    await conn.query("SET GLOBAL read_only = ON");
    progress("services' writes refused until the restore is verified (read_only)");
    await conn.query(`DROP DATABASE \`${db}\``);
    progress(`destroyed: DROP DATABASE ${db}`);
    const t2 = Date.now();
    await execa(ctx.tool("mariadb"), [...auth], { env, inputFile: backupFile });
    restoreSeconds = (Date.now() - t2) / 1000;
    progress(`restored from the backup in ${restoreSeconds.toFixed(1)} s; verifying row counts and checksums`);
    // 4. Verify against the backup's figures.
    after = await figures(conn, db);
  } finally {
    await conn.query("SET GLOBAL read_only = OFF").catch(() => undefined);
    await conn.end();
  }
  progress("services' writes allowed again");
  const tables: TableCheck[] = [...new Set([...before.keys(), ...after.keys()])].sort().map((t) => {
    const b = before.get(t);
    const a = after.get(t);
    return {
      table: t,
      rowsBefore: b?.rows ?? -1,
      rowsAfter: a?.rows ?? -1,
      checksumBefore: b?.checksum ?? "missing",
      checksumAfter: a?.checksum ?? "missing",
      ok: b !== undefined && a !== undefined && a.rows === b.rows && a.checksum === b.checksum,
    };
  });
  // The services reconnect by themselves; `up` confirms every component is healthy again, and only then is the
  // platform recovered: the RTO includes it.
  await up({ stackFile: stack, progress });
  const rtoSeconds = (Date.now() - t1) / 1000;
  return { database: db, backupFile, backupBytes, backupSeconds, rtoSeconds, restoreSeconds, tables };
}

/** Makes the server writable for the services again after a restore drill that was interrupted while it was not. */
export async function allowWrites(stack: string): Promise<void> {
  const conn = await rootConnection(localContext(stack));
  try {
    await conn.query("SET GLOBAL read_only = OFF");
  } finally {
    await conn.end();
  }
}
