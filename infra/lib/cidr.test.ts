import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { forAll, type Rng } from "../test/prng.ts";
import {
  carve,
  cidrProblem,
  contains,
  findOverlap,
  format,
  nextFreeBlock,
  overlaps,
  parseCidr,
  planNetwork,
  size,
  split,
  type Cidr,
} from "./cidr.ts";

/** A random aligned block with a prefix in [minPrefix, maxPrefix]. */
function genCidr(r: Rng, minPrefix = 8, maxPrefix = 28): Cidr {
  const prefix = r.int(minPrefix, maxPrefix);
  const blocks = 2 ** prefix;
  const index = Math.floor(r.next() * blocks);
  return { base: index * 2 ** (32 - prefix), prefix };
}

/** Brute-force overlap on small blocks: do the address sets intersect? */
function sharesAddress(a: Cidr, b: Cidr): boolean {
  const lo = Math.max(a.base, b.base);
  const hi = Math.min(a.base + size(a) - 1, b.base + size(b) - 1);
  return lo <= hi;
}

describe("CIDR math", () => {
  it("parses and formats the seed's blocks", () => {
    assert.equal(format(parseCidr("10.0.0.0/16")), "10.0.0.0/16");
    assert.equal(format(parseCidr("172.16.0.0/12")), "172.16.0.0/12");
    assert.equal(size(parseCidr("172.16.0.0/12")), 1_048_576);
  });

  it("names what is wrong with a bad block", () => {
    assert.equal(cidrProblem("10.0.0.1/16"), "the network address of the block (10.0.0.0/16): host bits must be zero");
    assert.equal(cidrProblem("10.0.0.0"), "an IPv4 CIDR block such as 10.0.0.0/16");
    assert.equal(cidrProblem("300.0.0.0/8"), "an IPv4 CIDR block whose octets are 0-255");
    assert.equal(cidrProblem("10.0.0.0/33"), "a prefix length from 0 to 32");
    assert.throws(() => parseCidr("nope"), RangeError);
  });

  it("format(parse(x)) round-trips every aligned block", () => {
    forAll(genCidr, (c) => assert.deepEqual(parseCidr(format(c)), c));
  });

  it("split gives 2^k disjoint, aligned, contiguous subnets that exactly cover the parent", () => {
    forAll(
      (r) => {
        const parent = genCidr(r, 8, 26);
        return { parent, k: r.int(0, Math.min(6, 30 - parent.prefix)) };
      },
      ({ parent, k }) => {
        const subs = split(parent, parent.prefix + k);
        assert.equal(subs.length, 2 ** k);
        assert.equal(
          subs.reduce((n, s) => n + size(s), 0),
          size(parent),
        );
        subs.forEach((s, i) => {
          assert.ok(contains(parent, s), `${format(s)} inside ${format(parent)}`);
          assert.equal(s.base % size(s), 0, `${format(s)} aligned`);
          const prev = subs[i - 1];
          if (prev !== undefined) assert.equal(s.base, prev.base + size(prev), "contiguous");
        });
      },
    );
  });

  it("carve returns count disjoint subnets inside the parent, as large as a power-of-two split allows", () => {
    forAll(
      (r) => ({ parent: genCidr(r, 8, 24), count: r.int(1, 16) }),
      ({ parent, count }) => {
        const subs = carve(parent, count);
        assert.equal(subs.length, count);
        assert.equal(findOverlap(subs.map((s, i) => ({ name: `s${i}`, cidr: format(s) }))), null);
        for (const s of subs) assert.ok(contains(parent, s));
        assert.ok(size(subs[0] as Cidr) * count > size(parent) / 2, "no smaller than needed");
      },
    );
  });

  it("overlaps agrees with a brute-force address comparison and is symmetric", () => {
    forAll(
      (r) => {
        // Draw both from one /20 so that overlaps are common.
        const base = genCidr(r, 20, 20);
        const pick = (): Cidr => {
          const prefix = r.int(20, 30);
          const n = 2 ** (prefix - 20);
          return { base: base.base + r.int(0, n - 1) * 2 ** (32 - prefix), prefix };
        };
        return { a: pick(), b: pick() };
      },
      ({ a, b }) => {
        assert.equal(overlaps(a, b), sharesAddress(a, b));
        assert.equal(overlaps(a, b), overlaps(b, a));
      },
    );
  });

  it("findOverlap reports the first overlapping pair by name", () => {
    const hit = findOverlap([
      { name: "aws.app", cidr: "10.0.0.0/16" },
      { name: "aws.data", cidr: "172.16.0.0/12" },
      { name: "alicloud.app", cidr: "10.0.128.0/17" },
    ]);
    assert.deepEqual(
      hit?.map((b) => b.name),
      ["aws.app", "alicloud.app"],
    );
    assert.equal(
      findOverlap([
        { name: "a", cidr: "10.0.0.0/16" },
        { name: "b", cidr: "10.1.0.0/16" },
      ]),
      null,
    );
  });

  it("plans the seed network: private /18, public /20 and data /18 per zone", () => {
    const plan = planNetwork("10.0.0.0/16", "172.16.0.0/12", ["us-east-1a", "us-east-1b", "us-east-1c"]);
    assert.equal(plan.dataVpcCidr, "172.16.0.0/16");
    assert.deepEqual(plan.zones, [
      { zone: "us-east-1a", public: "10.0.192.0/20", private: "10.0.0.0/18", data: "172.16.0.0/18" },
      { zone: "us-east-1b", public: "10.0.208.0/20", private: "10.0.64.0/18", data: "172.16.64.0/18" },
      { zone: "us-east-1c", public: "10.0.224.0/20", private: "10.0.128.0/18", data: "172.16.128.0/18" },
    ]);
  });

  it("every planned subnet sits in its segment and no two subnets overlap, for any valid segments and zone count", () => {
    forAll(
      (r) => {
        const app = genCidr(r, 16, 24);
        let data = genCidr(r, 8, 26);
        while (overlaps(app, data)) data = genCidr(r, 8, 26);
        const zones = Array.from({ length: r.int(1, 3) }, (_, i) => `z${i}`);
        return { app: format(app), data: format(data), zones };
      },
      ({ app, data, zones }) => {
        const plan = planNetwork(app, data, zones);
        assert.equal(plan.zones.length, zones.length);
        const all = plan.zones.flatMap((z) => [
          { name: `${z.zone}.public`, cidr: z.public },
          { name: `${z.zone}.private`, cidr: z.private },
          { name: `${z.zone}.data`, cidr: z.data },
        ]);
        assert.equal(findOverlap(all), null);
        for (const z of plan.zones) {
          assert.ok(contains(parseCidr(app), parseCidr(z.public)));
          assert.ok(contains(parseCidr(app), parseCidr(z.private)));
          assert.ok(contains(parseCidr(plan.dataVpcCidr), parseCidr(z.data)));
        }
        assert.ok(contains(parseCidr(data), parseCidr(plan.dataVpcCidr)));
        assert.ok(parseCidr(plan.dataVpcCidr).prefix >= 16, "a VPC block is at most /16");
      },
    );
  });

  it("refuses more zones than the layout has quarters for (a 4th private quarter would overlap the public one)", () => {
    assert.throws(
      () => planNetwork("10.0.0.0/16", "172.16.0.0/12", ["a", "b", "c", "d"]),
      /cannot plan 4 zones: allowed 1 to 3/,
    );
  });

  it("nextFreeBlock suggests a block of the same size that overlaps nothing taken", () => {
    forAll(
      (r) => {
        const c = genCidr(r, 12, 24);
        const taken = Array.from({ length: r.int(0, 6) }, () => genCidr(r, 8, 24));
        return { c, taken: r.bool() ? [c, ...taken] : taken };
      },
      ({ c, taken }) => {
        const s = nextFreeBlock(c, taken);
        if (s === null) return;
        const free = parseCidr(s);
        assert.equal(free.prefix, c.prefix);
        assert.ok(!overlaps(free, c), "differs from the rejected block");
        for (const t of taken) assert.ok(!overlaps(free, t), `${s} clear of ${format(t)}`);
      },
    );
    assert.equal(
      nextFreeBlock(parseCidr("172.20.0.0/16"), [parseCidr("172.16.0.0/12"), parseCidr("10.0.0.0/16")]),
      "10.1.0.0/16",
    );
  });
});
