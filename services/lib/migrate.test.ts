import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadMigrations, statements } from "./migrate.ts";

describe("migrations", () => {
  it("are numbered, unique and ordered", () => {
    const ms = loadMigrations();
    assert.ok(ms.length >= 1);
    assert.deepEqual(
      ms.map((m) => m.version),
      [...new Set(ms.map((m) => m.version))].sort(),
    );
  });

  it("split into statements at line-ending semicolons, dropping comments", () => {
    assert.deepEqual(
      statements("-- a comment\nCREATE TABLE a (x INT);\n\nCREATE TABLE b (\n  y INT -- inline is kept\n);\n"),
      ["CREATE TABLE a (x INT)", "CREATE TABLE b (\n  y INT -- inline is kept\n)"],
    );
  });

  it("avoid what TiDB does not accept (procedures, triggers, foreign keys, engine options)", () => {
    for (const m of loadMigrations()) {
      assert.doesNotMatch(m.sql, /\b(PROCEDURE|TRIGGER|FOREIGN KEY|ENGINE\s*=|FULLTEXT|SPATIAL)\b/i, m.name);
    }
  });
});
