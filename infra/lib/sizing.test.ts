import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { forAll } from "../test/prng.ts";
import { canaryReplicas, checkCapacity, nodesFor, pdbMaxUnavailable, serviceDemand, zoneSpread } from "./sizing.ts";

describe("sizing", () => {
  it("canary pods: none at 0 %, all at 100 %, and a pod share that covers the weight in between", () => {
    assert.equal(canaryReplicas(3, 0), 0);
    assert.equal(canaryReplicas(3, 100), 3);
    assert.equal(canaryReplicas(3, 10), 1);
    assert.equal(canaryReplicas(6, 30), 3);
    forAll(
      (r) => ({ stable: r.int(1, 200), weight: r.int(1, 99) }),
      ({ stable, weight }) => {
        const canary = canaryReplicas(stable, weight);
        assert.ok(canary >= 1);
        assert.ok(canary / (stable + canary) >= weight / 100 - 1e-9, "the canary's pod share reaches the weight");
        if (canary > 1) assert.ok((canary - 1) / (stable + canary - 1) < weight / 100, "one pod fewer would not");
      },
    );
    assert.throws(() => canaryReplicas(3, 101), RangeError);
  });

  it("zone spread: sums to the replicas, differs by at most one between zones", () => {
    assert.deepEqual(zoneSpread(6, 3), [2, 2, 2]);
    assert.deepEqual(zoneSpread(4, 3), [2, 1, 1]);
    forAll(
      (r) => ({ replicas: r.int(0, 500), zones: r.int(1, 6) }),
      ({ replicas, zones }) => {
        const spread = zoneSpread(replicas, zones);
        assert.equal(spread.length, zones);
        assert.equal(
          spread.reduce((a, b) => a + b, 0),
          replicas,
        );
        assert.ok(Math.max(...spread) - Math.min(...spread) <= 1);
      },
    );
  });

  it("a PDB lets a drain take one zone's share, never all pods of a multi-pod service, never nothing", () => {
    assert.equal(pdbMaxUnavailable(3, 3), 1);
    assert.equal(pdbMaxUnavailable(6, 3), 2);
    forAll(
      (r) => ({ replicas: r.int(1, 300), zones: r.int(1, 3) }),
      ({ replicas, zones }) => {
        const n = pdbMaxUnavailable(replicas, zones);
        assert.ok(n >= 1);
        if (replicas > 1 && zones > 1) assert.ok(n < replicas);
        assert.ok(n <= Math.max(1, Math.ceil(replicas / zones)));
      },
    );
  });

  it("nodes: enough for CPU and memory, a multiple of the zones, more demand never needs fewer nodes", () => {
    const shape = { vcpu: 4, memoryGiB: 16 };
    forAll(
      (r) => ({
        pods: r.int(0, 200),
        cpu: r.int(50, 4000),
        mem: r.int(64, 8192),
        extra: r.int(0, 50),
        zones: r.int(1, 3),
      }),
      ({ pods, cpu, mem, extra, zones }) => {
        const d = { pods, cpuMillis: pods * cpu, memoryMiB: pods * mem };
        const n = nodesFor(d, shape, zones);
        assert.equal(n % zones, 0);
        assert.ok(n * 4000 * 0.85 >= d.cpuMillis && n * 16384 * 0.8 >= d.memoryMiB);
        const more = { pods: pods + extra, cpuMillis: (pods + extra) * cpu, memoryMiB: (pods + extra) * mem };
        assert.ok(nodesFor(more, shape, zones) >= n);
      },
    );
  });

  it("the seed's services fit the aws-prod app node group at their ceilings", () => {
    const workloads = [
      { replicas: 3, maxReplicas: 9, cpuMillis: 1000, memoryMiB: 1024 },
      { replicas: 6, maxReplicas: 18, cpuMillis: 1000, memoryMiB: 1024 },
      { replicas: 4, maxReplicas: 12, cpuMillis: 500, memoryMiB: 512 },
    ];
    assert.deepEqual(serviceDemand(workloads).floor, { pods: 13, cpuMillis: 11000, memoryMiB: 11264 });
    const c = checkCapacity("aws", { instanceType: "m6i.xlarge", desired: 6, max: 12 }, workloads, 3);
    assert.deepEqual([c.nodesAtFloor, c.nodesAtCeiling, c.fits], [6, 12, true]);
    assert.equal(checkCapacity("aws", { instanceType: "x9.huge", desired: 3, max: 3 }, workloads, 3).fits, null);
  });
});
