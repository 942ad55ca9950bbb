/**
 * The local target end to end, with the real components: `imctl local up` on its own ports and state directory,
 * then Redis Cluster, Kafka, the database, Prometheus and nginx are each checked through their own protocols,
 * and `imctl local down` must leave no process behind.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import { request } from "node:http";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Admin, Consumer, Producer, ProduceAcks, stringDeserializers, stringSerializers } from "@platformatic/kafka";
import { Cluster } from "ioredis";
import mysql from "mysql2/promise";
import { loadSpec, requireLocal } from "../../infra/lib/spec.ts";
import { pidAlive } from "../../cli/src/lib/process.ts";
import { sleep } from "../../base/sleep.ts";
import { waitFor } from "../../cli/src/lib/wait.ts";
import type { Secrets } from "../../cli/src/targets/local/context.ts";
import { setGatewayPool } from "../../cli/src/targets/local/components/nginx.ts";
import {
  livePids,
  localContext,
  type DownResult,
  type StatusResult,
  type UpResult,
} from "../../cli/src/targets/local/platform.ts";
import { imctl, keepTempDir, tempDir, testStack } from "../helpers/imctl.ts";

const OFFSET = 1000;
const stack = testStack(OFFSET);
const spec = requireLocal(loadSpec(stack), stack);
const host = spec.local.bindAddress;
const ports = spec.local.ports;
const stateDir = tempDir("state");
const env = { IMCTL_STATE_DIR: stateDir };
// This process drives the same target directly (nginx weights), so it uses the same state directory.
process.env.IMCTL_STATE_DIR = stateDir;
const run = (...args: string[]) => imctl([...args, "--stack", stack], env);

describe("imctl local (real Redis Cluster, Kafka, MariaDB, nginx, Prometheus)", { timeout: 900_000 }, () => {
  let upResult: UpResult;
  let pidsBefore: number[] = [];

  before(async () => {
    const r = await run("local", "up", "--json");
    assert.equal(r.exitCode, 0, `imctl local up failed:\n${r.stderr}\n${r.stdout}`);
    upResult = JSON.parse(r.stdout) as UpResult;
  });

  after(async () => {
    // Leave nothing running even when an assertion failed half-way.
    if (livePids(stateDir).length > 0) await run("local", "down");
    // A platform that would not stop keeps its state directory (every component's log) and its stack file, to read
    // why and take it down by hand; otherwise both go when this process exits.
    if (livePids(stateDir).length > 0) {
      for (const dir of [stateDir, dirname(stack)]) keepTempDir(dir);
      process.stderr.write(`imctl local down left processes running; state left in ${stateDir}, stack ${stack}\n`);
    }
  });

  it("reports every component healthy and every platform check ok", () => {
    assert.equal(upResult.healthy, true);
    assert.equal(upResult.components.length, 16 + 5);
    for (const c of upResult.components) assert.equal(c.state, "healthy", `${c.id}: ${c.detail}`);
    assert.deepEqual(
      upResult.checks.map((c) => [c.name, c.ok]),
      [
        ["redis-cluster", true],
        ["kafka-topics", true],
        ["database-schema", true],
        ["prometheus-targets", true],
      ],
    );
  });

  it("forms a Redis Cluster of 3 primaries, each with an in-sync replica, that serves reads and writes", async () => {
    const cluster = new Cluster(
      Array.from({ length: 6 }, (_, i) => ({ host, port: ports.redis + i })),
      { redisOptions: { connectTimeout: 2000 } },
    );
    try {
      const nodes = String(await cluster.call("CLUSTER", "NODES"))
        .trim()
        .split("\n")
        .map((l) => l.split(" "));
      const primaries = nodes.filter((n) => n[2]?.includes("master"));
      const replicas = nodes.filter((n) => n[2]?.includes("slave"));
      assert.equal(primaries.length, 3);
      assert.equal(replicas.length, 3);
      for (const p of primaries) {
        assert.equal(replicas.filter((r) => r[3] === p[0]).length, 1, `primary ${p[1]} must have exactly one replica`);
      }
      for (const r of cluster.nodes("slave")) {
        assert.match(String(await r.info("replication")), /master_link_status:up/);
      }
      const keys = Array.from({ length: 30 }, (_, i) => `it:${randomUUID()}:${i}`);
      for (const k of keys) await cluster.set(k, k, "EX", 60);
      for (const k of keys) assert.equal(await cluster.get(k), k);
    } finally {
      cluster.disconnect();
    }
  });

  it("produces with acks=all to a 3-replica topic (min.insync.replicas 2) and consumes the message back", async () => {
    const bootstrapBrokers = Array.from({ length: 3 }, (_, i) => `${host}:${ports.kafka + i}`);
    const topic = spec.data.kafka.topics[0]?.name ?? "";
    const admin = new Admin({ clientId: "it-admin", bootstrapBrokers });
    try {
      const md = await admin.metadata({ topics: [topic], forceUpdate: true });
      const parts = md.topics.get(topic)?.partitions ?? [];
      assert.equal(parts.length, spec.data.kafka.topics[0]?.partitions);
      for (const p of parts) {
        assert.equal(p.replicas.length, 3);
        assert.equal(p.isr.length, 3);
      }
      const [desc] = await admin.describeConfigs({
        resources: [{ resourceType: 2, resourceName: topic, configurationKeys: ["min.insync.replicas"] }],
      });
      assert.equal(desc?.configs.find((c) => c.name === "min.insync.replicas")?.value, "2");
    } finally {
      await admin.close();
    }

    const value = `hello-${randomUUID()}`;
    const producer = new Producer({
      clientId: "it-producer",
      bootstrapBrokers,
      serializers: stringSerializers,
      acks: ProduceAcks.ALL,
      idempotent: true,
    });
    try {
      const res = await producer.send({ messages: [{ topic, key: value, value }] });
      assert.ok((res.offsets ?? []).length === 1, "the broker acknowledged one record");
    } finally {
      await producer.close();
    }

    const consumer = new Consumer({
      clientId: "it-consumer",
      groupId: `it-${randomUUID()}`,
      bootstrapBrokers,
      deserializers: stringDeserializers,
    });
    try {
      const stream = await consumer.consume({
        topics: [topic],
        mode: "committed",
        fallbackMode: "earliest",
        autocommit: false,
        sessionTimeout: 10_000,
        heartbeatInterval: 1000,
      });
      const found = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("the produced message was not consumed within 30 s")), 30_000);
        stream.on("data", (m) => {
          if (m.value === value) {
            clearTimeout(timer);
            resolve(m.value);
          }
        });
        stream.on("error", reject);
      });
      assert.equal(found, value);
      await stream.close();
    } finally {
      await consumer.close(true);
    }
  });

  it("runs queries against the migrated database as the services' user", async () => {
    const secrets = JSON.parse(readFileSync(join(stateDir, "secrets.json"), "utf8")) as Secrets;
    const conn = await mysql.createConnection({
      host,
      port: ports.database,
      user: secrets.dbAppUser,
      password: secrets.dbAppPassword,
      database: spec.data.database.name,
    });
    try {
      const [tables] = await conn.query<mysql.RowDataPacket[]>(
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? ORDER BY 1",
        [spec.data.database.name],
      );
      const names = tables.map((r) => String(r.t));
      for (const t of ["messages", "inbox", "user_seq", "users", "im_groups", "group_members", "schema_migrations"])
        assert.ok(names.includes(t), `table ${t}`);
      await conn.query(
        "INSERT INTO user_seq (user_id, last_seq) VALUES (?, 100) ON DUPLICATE KEY UPDATE last_seq = last_seq + 100",
        [424242],
      );
      const [rows] = await conn.query<mysql.RowDataPacket[]>(
        "SELECT last_seq FROM user_seq WHERE user_id = ?",
        [424242],
      );
      assert.ok(Number(rows[0]?.last_seq) >= 100);
    } finally {
      await conn.end();
    }
  });

  it("has Prometheus scraping every target up, with the alert rules loaded", async () => {
    const base = `http://${host}:${ports.prometheus}`;
    const targets = (await (await fetch(`${base}/api/v1/targets?state=active`)).json()) as {
      data: { activeTargets: Array<{ labels: Record<string, string>; health: string }> };
    };
    const jobs = new Set(targets.data.activeTargets.map((t) => t.labels.job));
    for (const j of ["prometheus", "node", "redis", "redis-exporter", "kafka", "mysql", "nginx", "im-services"])
      assert.ok(jobs.has(j), `job ${j}`);
    assert.equal(targets.data.activeTargets.length, 14 + 5);
    for (const t of targets.data.activeTargets) assert.equal(t.health, "up", `${t.labels.job}/${t.labels.instance}`);
    const rules = (await (await fetch(`${base}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: Array<{ name: string }> }> };
    };
    const names = rules.data.groups.flatMap((g) => g.rules.map((r) => r.name));
    assert.ok(names.includes("RedisClusterNotOk") && names.includes("HostCpuHigh"), names.join(","));
    // Real data flows: the Redis Cluster reports ok through the exporter.
    const q = (await (await fetch(`${base}/api/v1/query?query=min(redis_cluster_state)`)).json()) as {
      data: { result: Array<{ value: [number, string] }> };
    };
    assert.equal(q.data.result[0]?.value[1], "1");
  });

  it("answers through nginx, which turns weights and reloads without dropping an established connection", async () => {
    const lb = `http://${host}:${ports.gatewayLb}`;
    assert.equal((await fetch(`${lb}/lb/healthz`)).status, 200);
    const viaGateway = await fetch(`${lb}/healthz`);
    assert.equal(viaGateway.status, 200, "nginx proxies to a gateway instance");
    assert.ok(viaGateway.headers.get("x-im-version"), "the gateway names its version");

    // Two real HTTP backends on loopback stand in for a stable and a canary gateway instance.
    const hits = { stable: 0, canary: 0 };
    const backend = (name: "stable" | "canary"): Promise<Server> =>
      new Promise((resolve) => {
        const srv = createServer((req, res) => {
          hits[name]++;
          const delay = req.url === "/slow" ? 4000 : 0;
          setTimeout(() => res.end(name), delay);
        });
        srv.listen(0, host, () => resolve(srv));
      });
    const stable = await backend("stable");
    const canary = await backend("canary");
    const addr = (s: Server) => `${host}:${(s.address() as { port: number }).port}`;
    const ctx = localContext(stack);
    const { readPool } = await import("../../cli/src/targets/local/components/nginx.ts");
    const original = readPool(ctx);
    assert.equal(original.stable.length, spec.services.gateway.replicas);
    try {
      await setGatewayPool(ctx, {
        stable: [{ id: "gateway-1", address: addr(stable) }],
        canary: [{ id: "gateway-canary-1", address: addr(canary) }],
        canaryWeight: 30,
      });
      await waitFor(
        "nginx to serve the new pool",
        async () => ((await fetch(`${lb}/`)).status === 200 ? true : undefined),
        { timeoutMs: 10_000 },
      );
      hits.stable = 0;
      hits.canary = 0;
      for (let i = 0; i < 200; i++) await (await fetch(`${lb}/`)).text();
      // nginx's smooth weighted round robin is exact per worker: 30 % of the requests, within a worker's rounding.
      assert.ok(Math.abs(hits.canary - 60) <= 4, `canary got ${hits.canary} of 200`);

      // A request in flight across a reload completes: the old worker finishes it.
      const slow = httpGet(`${lb}/slow`);
      await sleep(500);
      await setGatewayPool(ctx, {
        stable: [{ id: "gateway-1", address: addr(stable) }],
        canary: [{ id: "gateway-canary-1", address: addr(canary) }],
        canaryWeight: 100,
      });
      const slowRes = await slow;
      assert.equal(slowRes.status, 200);
      assert.ok(["stable", "canary"].includes(slowRes.body));
      await waitFor(
        "the new weights",
        async () => ((await (await fetch(`${lb}/`)).text()) === "canary" ? true : undefined),
        { timeoutMs: 10_000 },
      );
      hits.stable = 0;
      for (let i = 0; i < 20; i++) await (await fetch(`${lb}/`)).text();
      assert.equal(hits.stable, 0, "weight 100 sends nothing to stable");
    } finally {
      await setGatewayPool(ctx, original);
      stable.close();
      canary.close();
    }
  });

  it("reuses healthy components and restarts a dead one on a second up", async () => {
    const victim = upResult.components.find((c) => c.id === "redis-4");
    assert.ok(victim?.pid);
    process.kill(victim.pid, "SIGKILL");
    await waitFor("redis-4 to die", async () => (pidAlive(victim.pid ?? 0) ? undefined : true), { timeoutMs: 5000 });
    const r = await run("local", "up", "--json");
    assert.equal(r.exitCode, 0, r.stderr);
    const again = JSON.parse(r.stdout) as UpResult;
    assert.deepEqual(again.started, ["redis-4"]);
    assert.equal(again.reused.length, 15 + 5);
    assert.equal(again.healthy, true);
  });

  it("status --json reports the same healthy platform", async () => {
    const r = await run("local", "status", "--json");
    assert.equal(r.exitCode, 0, r.stderr);
    const s = JSON.parse(r.stdout) as StatusResult;
    assert.equal(s.healthy, true);
    pidsBefore = livePids(stateDir);
    assert.ok(pidsBefore.length >= 21);
  });

  it("down stops every process it started, nginx workers included", async () => {
    const r = await run("local", "down", "--json");
    assert.equal(r.exitCode, 0, r.stderr);
    // The brokers are the KRaft quorum: stopped in turn, each but the last finishes its controlled shutdown while
    // the others still hold the quorum (stopped together, one of any two of them waited out the grace and was killed).
    const brokers = (JSON.parse(r.stdout) as DownResult).stopped.filter((s) => s.id.startsWith("kafka-"));
    assert.deepEqual(
      brokers.map((s) => s.outcome),
      ["stopped", "stopped", "killed"],
      JSON.stringify(brokers),
    );
    // Killed after the short grace of the last of a quorum, not the 30 s every broker gets.
    assert.ok(r.stderr.includes(`${brokers[2]?.id}: killed, the last of its quorum`), r.stderr);
    const alive = pidsBefore.filter(pidAlive);
    assert.deepEqual(alive, [], `still alive: ${alive.join(", ")}`);
    assert.deepEqual(livePids(stateDir), []);
    const s = JSON.parse((await run("local", "status", "--json")).stdout) as StatusResult;
    assert.ok(s.components.every((c) => c.state === "stopped"));
  });
});

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on("error", reject)
      .end();
  });
}
