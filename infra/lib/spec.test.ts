import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { REPO_ROOT } from "../../cli/src/lib/paths.ts";
import { loadSpec, localPortAssignments, parseSpec, requireLocal, SpecError } from "./spec.ts";

const raw = () => parse(readFileSync(join(REPO_ROOT, "stacks", "local.yaml"), "utf8")) as Record<string, any>;

describe("platform spec", () => {
  it("accepts stacks/local.yaml with the seed's data tier", () => {
    const spec = loadSpec(join(REPO_ROOT, "stacks", "local.yaml"));
    assert.equal(spec.target, "local");
    assert.equal(spec.data.redis.primaries, 3);
    assert.equal(spec.data.kafka.replicationFactor, 3);
    assert.equal(spec.data.kafka.minInsyncReplicas, 2);
  });

  it("names the field, the value and what is allowed for a wrong type", () => {
    const r = raw();
    r.data.kafka.brokers = "three";
    assert.throws(() => parseSpec(r, "stacks/local.yaml"), {
      name: "SpecError",
      message: 'stacks/local.yaml: data.kafka.brokers: got "three"; expected number',
    });
  });

  it("rejects an unknown field instead of ignoring a typo", () => {
    const r = raw();
    r.data.redis.replicas = 1;
    assert.throws(() => parseSpec(r, "s.yaml"), /data\.redis: .*unknown field\(s\) "replicas"/);
  });

  it("rejects a port outside 1024-65535 and a non-loopback bind address", () => {
    const r = raw();
    r.local.ports.database = 80;
    assert.throws(() => parseSpec(r, "s.yaml"), { message: "s.yaml: local.ports.database: got 80; must be at least 1024" });
    const r2 = raw();
    r2.local.bindAddress = "10.0.0.5";
    assert.throws(() => parseSpec(r2, "s.yaml"), /local\.bindAddress: got "10\.0\.0\.5"; an address in 127\.0\.0\.0\/8/);
  });

  it("rejects a replication factor above the broker count and min ISR above the replication factor", () => {
    const r = raw();
    r.data.kafka.replicationFactor = 4;
    assert.throws(() => parseSpec(r, "s.yaml"), /data\.kafka\.replicationFactor: got 4; at most data\.kafka\.brokers \(3\)/);
    const r2 = raw();
    r2.data.kafka.minInsyncReplicas = 4;
    assert.throws(() => parseSpec(r2, "s.yaml"), /data\.kafka\.minInsyncReplicas: got 4; at most data\.kafka\.replicationFactor \(3\)/);
  });

  it("catches derived ports that collide (a Redis cluster bus on the database port)", () => {
    const r = raw();
    r.local.ports.database = r.local.ports.redisBus + 2;
    assert.throws(() => parseSpec(r, "s.yaml"), /collides with/);
  });

  it("derives one port per node, bus, broker, controller and JMX agent, all distinct", () => {
    const spec = requireLocal(loadSpec(join(REPO_ROOT, "stacks", "local.yaml")), "local");
    const ports = localPortAssignments(spec).map(([, p]) => p);
    assert.equal(ports.length, 8 + 6 * 2 + 3 * 3 + 2 + 2 + 1);
    assert.equal(new Set(ports).size, ports.length);
  });

  it("reports YAML syntax errors with a line number", () => {
    assert.throws(() => loadSpec(join(REPO_ROOT, "test", "fixtures", "broken.yaml")), (err: unknown) => err instanceof SpecError && /broken\.yaml:\d+:\d+: not valid YAML/.test(err.message));
  });
});
