/**
 * Faults during a bounded send loop on the real platform: one gateway, one message instance, one Redis primary
 * or one Kafka broker is killed (SIGKILL) while messages flow. No acknowledged message may be lost, none
 * delivered twice, and no receiver's inbox seq may ever go backwards. `imctl local up` repairs the platform
 * after each fault.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { makeUsers, startPlatform, type TestPlatform } from "../helpers/platform.ts";
import { eventually, recorder, type Recorder } from "../helpers/messaging.ts";

let p: TestPlatform;
let users: Array<{ userId: string; token: string; username: string }>;
let round = 0;

interface LoopReport {
  sent: number;
  acknowledged: number;
  failed: number;
  lost: number;
  duplicates: number;
  regressions: number;
}

async function primaryRedis(): Promise<string> {
  const n = p.spec.data.redis.primaries * (1 + p.spec.data.redis.replicasPerPrimary);
  for (let i = 0; i < n; i++) {
    const r = new Redis({ host: p.spec.local.bindAddress, port: p.spec.local.ports.redis + i, lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await r.connect();
      const role = (await r.call("ROLE")) as unknown[];
      if (role[0] === "master") return `redis-${i + 1}`;
    } finally {
      r.disconnect();
    }
  }
  throw new Error("no Redis primary found");
}

/** Senders send to receivers round-robin; `inject` runs once a third of the loop is done. */
async function loopWithFault(inject: () => Promise<void>): Promise<LoopReport> {
  const base = (round++ % 4) * 6;
  const group = users.slice(base, base + 6);
  const clients: Recorder[] = group.map((u) => recorder(p.wsUrl, u, { syncIntervalMs: 1000 }));
  await Promise.all(clients.map((c) => c.client.connect()));
  const senders = clients.slice(0, 3);
  const receivers = clients.slice(3);
  const acked = new Map<string, Set<string>>(receivers.map((r) => [r.userId, new Set()]));
  const perSender = 60;
  let sent = 0;
  let failed = 0;
  let injected = false;
  try {
    await Promise.all(
      senders.map(async (s, k) => {
        for (let i = 0; i < perSender; i++) {
          if (k === 0 && i === perSender / 3 && !injected) {
            injected = true;
            await inject();
          }
          const to = receivers[(i + k) % receivers.length];
          assert.ok(to);
          sent++;
          try {
            const r = await s.client.send({ kind: "user", id: to.userId }, `r${round}-s${k}-${i}`, { timeoutMs: 45_000 });
            acked.get(to.userId)?.add(r.messageId);
          } catch {
            failed++;
          }
          await new Promise((r) => setTimeout(r, 40));
        }
      }),
    );
    for (const r of receivers) {
      const want = acked.get(r.userId) ?? new Set();
      const have = () => new Set(r.received.map((m) => m.messageId));
      await eventually(`every acknowledged message at ${r.userId}`, () => [...want].every((id) => have().has(id)), 60_000, () => `${[...want].filter((id) => !have().has(id)).length} of ${want.size} missing`);
    }
    const lost = receivers.reduce((n, r) => n + [...(acked.get(r.userId) ?? [])].filter((id) => !r.received.some((m) => m.messageId === id)).length, 0);
    return {
      sent,
      acknowledged: [...acked.values()].reduce((n, s) => n + s.size, 0),
      failed,
      lost,
      duplicates: receivers.reduce((n, r) => n + r.received.length - new Set(r.received.map((m) => m.messageId)).size, 0),
      regressions: receivers.reduce((n, r) => n + r.client.stats.inboxSeqRegressions, 0),
    };
  } finally {
    for (const c of clients) c.client.close();
  }
}

function assertNoLoss(r: LoopReport): void {
  assert.equal(r.lost, 0, `lost acknowledged messages: ${JSON.stringify(r)}`);
  assert.equal(r.duplicates, 0, `duplicates delivered: ${JSON.stringify(r)}`);
  assert.equal(r.regressions, 0, `a receiver's seq went backwards: ${JSON.stringify(r)}`);
  // Clients retry with the same message id until acknowledged: every send makes it through the fault.
  assert.equal(r.failed, 0, `sends never acknowledged: ${JSON.stringify(r)}`);
  assert.equal(r.acknowledged, r.sent);
}

async function repair(): Promise<void> {
  const r = await p.run("local", "up", "--json");
  assert.equal(r.exitCode, 0, `imctl local up could not repair the platform:\n${r.stderr.split("\n").slice(-8).join("\n")}`);
}

function kill(component: string): () => Promise<void> {
  return async () => {
    process.kill(p.pid(component), "SIGKILL");
  };
}

describe("faults during a send loop lose no acknowledged message", { timeout: 1_200_000 }, () => {
  before(async () => {
    p = await startPlatform(8000);
    users = await makeUsers(p.api, 24, "fault");
  });

  after(async () => {
    await p?.down();
  });

  it("a gateway instance killed", async () => {
    assertNoLoss(await loopWithFault(kill("gateway-1")));
    await repair();
  });

  it("a message-service instance killed", async () => {
    assertNoLoss(await loopWithFault(kill("message-1")));
    await repair();
  });

  it("a Redis primary killed (its replica takes over)", async () => {
    const victim = await primaryRedis();
    assertNoLoss(await loopWithFault(kill(victim)));
    await repair();
  });

  it("a Kafka broker killed (hard)", async () => {
    assertNoLoss(await loopWithFault(kill("kafka-1")));
    await repair();
  });
});
