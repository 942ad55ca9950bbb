/**
 * Schema migrations: numbered SQL files under services/migrations, applied in order, each once, recorded with a
 * checksum so an edited migration that already ran is refused instead of silently diverging.
 * The SQL is written for TiDB (production) and runs unchanged on MariaDB (local): no stored procedures,
 * triggers, foreign keys or engine-specific options.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Connection, RowDataPacket } from "mysql2/promise";

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "migrations");

export interface Migration {
  version: string;
  name: string;
  sql: string;
  checksum: string;
}

export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => {
      const sql = readFileSync(join(dir, f), "utf8");
      return {
        version: f.slice(0, 4),
        name: f.replace(/\.sql$/, ""),
        sql,
        checksum: createHash("sha256").update(sql).digest("hex"),
      };
    });
}

/** Splits a migration into statements at semicolons that end a line (migrations keep one statement per block). */
export function statements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, "").trim())
    .filter((s) => s.length > 0);
}

export interface MigrationResult {
  applied: string[];
  current: string | null;
}

export async function migrate(conn: Connection, migrations: Migration[] = loadMigrations()): Promise<MigrationResult> {
  await conn.query(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version VARCHAR(16) NOT NULL PRIMARY KEY," +
      " name VARCHAR(255) NOT NULL, checksum CHAR(64) NOT NULL," +
      " applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))",
  );
  const [rows] = await conn.query<RowDataPacket[]>("SELECT version, checksum FROM schema_migrations ORDER BY version");
  const done = new Map(rows.map((r) => [String(r.version), String(r.checksum)]));
  const applied: string[] = [];
  for (const m of migrations) {
    const seen = done.get(m.version);
    if (seen !== undefined) {
      if (seen !== m.checksum) {
        throw new Error(
          `migration ${m.name} was changed after it was applied (checksum differs): add a new migration instead of editing it`,
        );
      }
      continue;
    }
    for (const stmt of statements(m.sql)) await conn.query(stmt);
    await conn.query("INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)", [
      m.version,
      m.name,
      m.checksum,
    ]);
    applied.push(m.name);
  }
  const last = migrations.at(-1);
  return { applied, current: last ? last.name : null };
}
