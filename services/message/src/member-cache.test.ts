import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type mysql from "mysql2/promise";
import { MemberCache, subGroupKey } from "./member-cache.ts";

const rows = (n: number, from = 1): mysql.RowDataPacket[] =>
  Array.from({ length: n }, (_, i) => ({ user_id: String(from + i), joined_group_seq: 0 }) as mysql.RowDataPacket);

function counting(maxRows: number) {
  const counts = { hit: 0, miss: 0 };
  const cache = new MemberCache(maxRows, (result, n) => (counts[result] += n));
  return { cache, counts };
}

describe("the fan-out's member cache", () => {
  it("answers a list only at the version it was read at", () => {
    const { cache, counts } = counting(100);
    const list = rows(3);
    cache.set("g", 7, list);
    assert.equal(cache.get("g", 7), list);
    assert.equal(cache.get("g", 8), undefined, "a moved version is a miss");
    assert.equal(cache.get("other", 7), undefined);
    assert.deepEqual(counts, { hit: 1, miss: 2 });
    cache.set("g", 8, rows(4));
    assert.equal(cache.get("g", 7), undefined, "the older list is gone once replaced");
    assert.equal(cache.get("g", 8)?.length, 4);
    assert.equal(cache.size, 4);
  });

  it("holds at most its bound in rows, dropping the least recently used lists first", () => {
    const cache = new MemberCache(10);
    cache.set("a", 1, rows(4));
    cache.set("b", 1, rows(4));
    assert.ok(cache.get("a", 1), "a used: b is now the least recent");
    cache.set("c", 1, rows(4));
    assert.equal(cache.versionOf("b"), undefined, "b dropped");
    assert.equal(cache.versionOf("a"), 1);
    assert.equal(cache.versionOf("c"), 1);
    assert.equal(cache.size, 8);
    cache.set("huge", 1, rows(11));
    assert.equal(cache.versionOf("huge"), undefined, "a list over the whole bound is not held");
    assert.equal(cache.size, 8, "and evicts nothing");
  });

  it("holds nothing with a bound of 0", () => {
    const cache = new MemberCache(0);
    cache.set("g", 1, rows(1));
    cache.set("empty", 1, []);
    assert.equal(cache.versionOf("g"), undefined);
    assert.equal(cache.versionOf("empty"), undefined);
  });

  it("answers a batch's sub-groups together only when one version holds them all", () => {
    const { cache, counts } = counting(100);
    const keys = [0, 1, 2].map((k) => subGroupKey("g", k));
    assert.deepEqual(keys, ["g/0", "g/1", "g/2"]);
    cache.set(keys[0]!, 5, rows(2));
    cache.set(keys[1]!, 5, rows(2, 10));
    assert.equal(cache.versionOfAll(keys), undefined, "one of them not held");
    cache.set(keys[2]!, 6, rows(2, 20));
    assert.equal(cache.versionOfAll(keys), undefined, "held at two versions");
    cache.set(keys[2]!, 5, rows(2, 20));
    assert.equal(cache.versionOfAll(keys), 5);
    const all = cache.getAll(keys, 5);
    assert.deepEqual(
      all?.map((l) => l.map((r) => r.user_id)),
      [
        ["1", "2"],
        ["10", "11"],
        ["20", "21"],
      ],
    );
    assert.equal(cache.getAll(keys, 6), undefined, "the version moved: the database is asked");
    cache.missed(3);
    assert.deepEqual(counts, { hit: 3, miss: 4 });
  });
});
