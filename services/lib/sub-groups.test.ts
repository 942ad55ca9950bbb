import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "./config.ts";
import { fnv1a64, placeMember, subGroupConfig, subGroupSettings, subGroupsNeeded, warnState } from "./sub-groups.ts";

/** Ids shaped like the platform's (decimal snowflake-style ids). */
const ids = Array.from({ length: 10_000 }, (_, i) => String(7_300_000_000_000_000n + BigInt(i) * 7919n));

describe("sub-groups: placement by hash of the user id", () => {
  it("hashes with FNV-1a 64 (the published test vectors)", () => {
    assert.equal(fnv1a64(""), 0xcbf29ce484222325n);
    assert.equal(fnv1a64("a"), 0xaf63dc4c8601ec8cn);
    assert.equal(fnv1a64("foobar"), 0x85944171f73967e8n);
  });

  it("places every member in [0, n), the same way every time, and everyone in 0 with one sub-group", () => {
    for (const n of [1, 2, 3, 7, 64, 1024]) {
      for (const u of ids.slice(0, 500)) {
        const k = placeMember(u, n);
        assert.ok(Number.isInteger(k) && k >= 0 && k < n, `${u} in ${n}: ${k}`);
        assert.equal(placeMember(u, n), k);
      }
    }
    assert.ok(ids.every((u) => placeMember(u, 1) === 0));
    assert.throws(() => placeMember("1", 0), RangeError);
  });

  it("spreads 10,000 members evenly (each of 8 sub-groups within 10 % of 1,250)", () => {
    const counts = new Array<number>(8).fill(0);
    for (const u of ids) counts[placeMember(u, 8)]! += 1;
    for (const c of counts) assert.ok(Math.abs(c - 1250) < 125, `counts ${counts.join(",")}`);
  });

  it("growing from n to n' moves about 1 - n/n' of the members, each into a new sub-group", () => {
    for (const [n, m] of [
      [1, 2],
      [2, 3],
      [4, 8],
      [10, 11],
    ] as const) {
      let moved = 0;
      for (const u of ids) {
        const before = placeMember(u, n);
        const after = placeMember(u, m);
        if (after !== before) {
          moved++;
          assert.ok(after >= n, `${u}: ${n}->${m} moved from ${before} to the old sub-group ${after}`);
        }
      }
      const expected = ids.length * (1 - n / m);
      assert.ok(Math.abs(moved - expected) < ids.length * 0.02, `${n}->${m}: moved ${moved}, expected ~${expected}`);
    }
  });
});

describe("sub-groups: count and warn state", () => {
  const s = { capacity: 1000, warnRatio: 0.9, maxSubGroups: 4 };

  it("needs one sub-group per capacity members, at least 1, at most maxSubGroups", () => {
    assert.equal(subGroupsNeeded(0, s), 1);
    assert.equal(subGroupsNeeded(1000, s), 1);
    assert.equal(subGroupsNeeded(1001, s), 2);
    assert.equal(subGroupsNeeded(3500, s), 4);
    assert.equal(subGroupsNeeded(1_000_000, s), 4);
  });

  it("warns past 900 of 1,000 and is over past 1,000", () => {
    assert.equal(warnState(900, s), "ok");
    assert.equal(warnState(901, s), "warn");
    assert.equal(warnState(1000, s), "warn");
    assert.equal(warnState(1001, s), "over");
  });

  it("reads GROUP_* with the stack's defaults, refusing a bad value in one line", () => {
    assert.deepEqual(subGroupSettings(loadConfig(subGroupConfig, {})), {
      capacity: 1000,
      warnRatio: 0.9,
      maxSubGroups: 64,
      switchSteps: [10, 30, 100],
    });
    assert.deepEqual(
      subGroupSettings(loadConfig(subGroupConfig, { GROUP_SWITCH_STEPS: "50,100" })).switchSteps,
      [50, 100],
    );
    assert.throws(() => loadConfig(subGroupConfig, { GROUP_SWITCH_STEPS: "30,10,100" }), {
      message: 'config: GROUP_SWITCH_STEPS: got "30,10,100"; increasing percentages from 1 to 100, ending at 100',
    });
    assert.throws(() => loadConfig(subGroupConfig, { GROUP_SUB_GROUP_CAPACITY: "1" }), {
      message: 'config: GROUP_SUB_GROUP_CAPACITY: got "1"; Too small: expected number to be >=2',
    });
  });
});
