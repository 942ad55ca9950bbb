/**
 * Member lists of groups and sub-groups kept in memory between fan-outs (docs/groups.md, "Fan-out workers"). Each
 * entry carries the group's `members_version` (migration 0007) read in the same statement as its rows; every change
 * to who a fan-out serves (a join, a move's plan, switch, finish or rollback) raises that version in its transaction,
 * so an entry is used only while the version a fan-out reads equals its own. Bounded by the number of rows held:
 * the least recently used entries go first. Rows are shared between fan-outs and never modified.
 */
import type mysql from "mysql2/promise";

/** Member rows held at most, over every entry (FANOUT_MEMBER_CACHE_ROWS); 0 turns the cache off. */
export const MEMBER_CACHE_ROWS = 100_000;

interface Entry {
  version: number;
  rows: mysql.RowDataPacket[];
}

/** The cache key of a group's sub-group `k` (a whole group's key is its id). */
export const subGroupKey = (group: string, k: number): string => `${group}/${k}`;

export class MemberCache {
  private readonly entries = new Map<string, Entry>();
  private held = 0;

  constructor(
    private readonly maxRows = MEMBER_CACHE_ROWS,
    private readonly counted?: (result: "hit" | "miss", lists: number) => void,
  ) {}

  /** The rows of `key` if held at `version` (counted as a hit), else undefined (a miss). */
  get(key: string, version: number): mysql.RowDataPacket[] | undefined {
    const e = this.entries.get(key);
    if (e === undefined || e.version !== version) {
      this.counted?.("miss", 1);
      return undefined;
    }
    // Most recently used last: Map keeps insertion order.
    this.entries.delete(key);
    this.entries.set(key, e);
    this.counted?.("hit", 1);
    return e.rows;
  }

  /** Counts `lists` lists read from the database without asking for held ones (none could have been used). */
  missed(lists: number): void {
    this.counted?.("miss", lists);
  }

  /** The version `key` is held at, without counting or reordering (to decide whether a read can be skipped). */
  versionOf(key: string): number | undefined {
    return this.entries.get(key)?.version;
  }

  /** The version at which every one of `keys` is held, if one version holds them all. */
  versionOfAll(keys: string[]): number | undefined {
    const versions = new Set(keys.map((k) => this.versionOf(k)));
    const [v] = versions;
    return versions.size === 1 ? v : undefined;
  }

  /** The rows of every one of `keys` held at `version`, or undefined when any is not (one miss counted). */
  getAll(keys: string[], version: number): mysql.RowDataPacket[][] | undefined {
    const out: mysql.RowDataPacket[][] = [];
    for (const k of keys) {
      const rows = this.get(k, version);
      if (rows === undefined) return undefined;
      out.push(rows);
    }
    return out;
  }

  /** Holds `rows` as `key`'s list at `version`; a list larger than the whole bound is not held. */
  set(key: string, version: number, rows: mysql.RowDataPacket[]): void {
    this.drop(key);
    if (this.maxRows === 0 || rows.length > this.maxRows) return;
    this.entries.set(key, { version, rows });
    this.held += rows.length;
    for (const [k] of this.entries) {
      if (this.held <= this.maxRows) break;
      this.drop(k);
    }
  }

  /** Rows held, over every entry. */
  get size(): number {
    return this.held;
  }

  private drop(key: string): void {
    const e = this.entries.get(key);
    if (e === undefined) return;
    this.entries.delete(key);
    this.held -= e.rows.length;
  }
}
