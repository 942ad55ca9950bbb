import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UserError } from "../../errors.ts";
import { seededPick } from "../../targets/faults.ts";
import {
  computeRecovery,
  DEFAULT_BUDGETS,
  FAULTS,
  parseDuration,
  parseFault,
  timelineSeries,
  verdict,
  type ConnectionEvent,
  type MessageFigures,
  type ProbeSample,
} from "./model.ts";

const ok = (stream: string, startMs: number, endMs = startMs + 20): ProbeSample => ({
  stream,
  kind: "send",
  startMs,
  endMs,
  ok: true,
});
const bad = (stream: string, startMs: number, endMs: number | null = startMs + 2000): ProbeSample => ({
  stream,
  kind: "send",
  startMs,
  endMs,
  ok: false,
});
const clean: MessageFigures = {
  sent: 10,
  acknowledged: 10,
  delivered: 10,
  lostAcknowledged: 0,
  duplicated: 0,
  seqMonotonic: true,
};

function userError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    return err.message;
  }
  assert.fail("expected a UserError");
}

describe("parseFault", () => {
  it("knows every fault of the issue, with its budget", () => {
    assert.deepEqual(
      [...FAULTS],
      [
        "redis-primary",
        "kafka-broker",
        "db",
        "gateway-instance",
        "message-instance",
        "user-center-instance",
        "random-instance",
        "partition",
        "pod-kill",
        "node-drain",
        "zone-loss",
      ],
    );
    assert.equal(DEFAULT_BUDGETS["redis-primary"], 10);
    assert.equal(DEFAULT_BUDGETS["kafka-broker"], 15);
    assert.equal(DEFAULT_BUDGETS["gateway-instance"], 10);
    assert.equal(DEFAULT_BUDGETS["message-instance"], 5);
    assert.equal(DEFAULT_BUDGETS.db, 30);
  });

  it("resolves defaults once and takes overrides", () => {
    const d = parseFault({ fault: "kafka-broker" });
    assert.deepEqual(d, {
      fault: "kafka-broker",
      kafkaMode: "hard",
      instance: undefined,
      partitionSeconds: 10,
      seed: d.seed,
      budgetSeconds: 15,
      durationSeconds: 30,
      percent: undefined,
      workload: undefined,
      force: false,
      zone: undefined,
      from: undefined,
      to: undefined,
    });
    // --seed is taken by the fault that picks with it (and refused with the others, below).
    assert.equal(parseFault({ fault: "random-instance", seed: "7" }).seed, 7);
    const p = parseFault({
      fault: "partition",
      partitionSeconds: "5s",
      duration: "20s",
      budget: "1m",
      instance: "redis-2",
    });
    assert.equal(p.partitionSeconds, 5);
    assert.equal(p.durationSeconds, 20);
    assert.equal(p.budgetSeconds, 60);
    assert.equal(p.instance, "redis-2");
    assert.equal(parseFault({ fault: "kafka-broker", mode: "graceful" }).kafkaMode, "graceful");
  });

  it("rejects bad input with one line naming the field, the value and what is allowed", () => {
    assert.equal(
      userError(() => parseFault({ fault: "disk" })),
      `unknown fault "disk": allowed are ${FAULTS.join(", ")}`,
    );
    assert.equal(
      userError(() => parseFault({ fault: "kafka-broker", mode: "soft" })),
      '--mode: got "soft"; allowed: hard, graceful',
    );
    assert.equal(
      userError(() => parseFault({ fault: "db", mode: "hard" })),
      "--mode: only the kafka-broker fault has a mode (got it with db)",
    );
    assert.equal(
      userError(() => parseFault({ fault: "db", duration: "soon" })),
      '--duration: got "soon"; allowed: a number above 0 with ms, s or m, e.g. 30s',
    );
    assert.equal(
      userError(() => parseFault({ fault: "partition", partitionSeconds: "20s", duration: "10s" })),
      "--duration: got 10s; allowed: at least 22 s for partition (the partition plus 2 s)",
    );
    assert.equal(
      userError(() => parseFault({ fault: "random-instance", seed: "-1" })),
      '--seed: got "-1"; allowed: a whole number, 0 or above',
    );
    assert.equal(
      userError(() => parseFault({ fault: "db", instance: "../x" })),
      '--instance: got "../x"; allowed: a component id such as gateway-2, message-1, redis-3, kafka-1 ' +
        "(on kubernetes: a pod name)",
    );
    assert.equal(
      userError(() => parseFault({ fault: "redis-primary", seed: "5" })),
      "--seed: only random-instance, pod-kill, zone-loss pick with a seed (got it with redis-primary)",
    );
    assert.equal(
      userError(() => parseFault({ fault: "random-instance", instance: "gateway-1" })),
      "--instance: random-instance picks the instance itself (use --seed to repeat a pick)",
    );
    assert.equal(
      userError(() => parseFault({ fault: "db", partitionSeconds: "5s" })),
      "--partition-seconds: only the partition fault lasts a set time (got it with db)",
    );
  });

  it("takes the kubernetes faults' flags, with budgets of the target", () => {
    const k = parseFault(
      { fault: "pod-kill", workload: "message-stable", percent: "50", seed: "7", force: true },
      "kubernetes",
    );
    assert.deepEqual(
      { workload: k.workload, percent: k.percent, seed: k.seed, force: k.force, budget: k.budgetSeconds },
      { workload: "message-stable", percent: 50, seed: 7, force: true, budget: 60 },
    );
    assert.equal(
      parseFault({ fault: "pod-kill", instance: "gateway-stable-6d9c7b8f4-x2k8p" }).instance,
      "gateway-stable-6d9c7b8f4-x2k8p",
    );
    assert.equal(parseFault({ fault: "node-drain", instance: "kwok-zone-a" }).budgetSeconds, 120);
    assert.equal(parseFault({ fault: "zone-loss", zone: "zone-b" }).zone, "zone-b");
    const p = parseFault({ fault: "partition", from: "message", to: "user-center" }, "kubernetes");
    assert.deepEqual([p.from, p.to], ["message", "user-center"]);
    // The same fault keeps its local budget locally, and gets the cluster's (pod replaced and Ready) on kubernetes.
    assert.equal(parseFault({ fault: "gateway-instance" }).budgetSeconds, 10);
    assert.equal(parseFault({ fault: "gateway-instance" }, "kubernetes").budgetSeconds, 60);
    assert.equal(parseFault({ fault: "gateway-instance", budget: "5s" }, "kubernetes").budgetSeconds, 5);
    assert.equal(
      parseFault({ fault: "gateway-instance", instance: "gateway-stable-6d9c7b8f4-x2k8p" }).instance,
      "gateway-stable-6d9c7b8f4-x2k8p",
    );
  });

  it("rejects bad kubernetes flags with one line naming the flag, the value and what is allowed", () => {
    const cases: Array<[Parameters<typeof parseFault>[0], string]> = [
      [{ fault: "pod-kill", percent: "0" }, '--percent: got "0"; allowed: a whole number from 1 to 100'],
      [{ fault: "pod-kill", percent: "150" }, '--percent: got "150"; allowed: a whole number from 1 to 100'],
      [{ fault: "pod-kill", percent: "12.5" }, '--percent: got "12.5"; allowed: a whole number from 1 to 100'],
      [{ fault: "db", percent: "50" }, "--percent: only pod-kill takes it (got it with db)"],
      [{ fault: "zone-loss", force: true }, "--force: only pod-kill takes it (got it with zone-loss)"],
      [{ fault: "pod-kill", zone: "zone-a" }, "--zone: only zone-loss takes it (got it with pod-kill)"],
      [{ fault: "zone-loss", from: "gateway" }, "--from: only partition takes it (got it with zone-loss)"],
      [
        { fault: "pod-kill", workload: "Gateway_Stable" },
        '--workload: got "Gateway_Stable"; allowed: a Deployment or StatefulSet name, e.g. gateway-stable',
      ],
      [
        { fault: "pod-kill", workload: "gateway-stable", instance: "gateway-stable-abc-12345" },
        "--instance: names one pod, --workload picks among a workload's pods; allowed: one of them",
      ],
      [
        { fault: "node-drain", instance: "Node 1" },
        "--instance: got \"Node 1\"; allowed: a node name (lower-case letters, digits, '-' and '.'), e.g. kwok-zone-a",
      ],
      [
        { fault: "zone-loss", instance: "kwok-zone-b" },
        "--instance: zone-loss takes a whole zone; allowed: --zone, e.g. --zone zone-b",
      ],
      [
        { fault: "zone-loss", zone: "zone b" },
        '--zone: got "zone b"; allowed: a topology.kubernetes.io/zone value, e.g. zone-b',
      ],
      [{ fault: "partition", from: "redis" }, '--from: got "redis"; allowed: gateway, message, user-center'],
      [{ fault: "partition", to: "gateway" }, '--to: got "gateway", the same as --from; allowed: another service'],
      [
        { fault: "zone-loss", zone: "zone-b", seed: "3" },
        "--seed: zone-loss was told what to hit (--zone), so there is nothing to pick",
      ],
    ];
    for (const [req, message] of cases)
      assert.equal(
        userError(() => parseFault(req)),
        message,
      );
  });

  it("parses durations", () => {
    assert.equal(parseDuration("--x", "500ms"), 0.5);
    assert.equal(parseDuration("--x", "1.5m"), 90);
    assert.throws(() => parseDuration("--x", "0s"), UserError);
  });
});

describe("seededPick", () => {
  it("is reproducible and covers every item", () => {
    const items = ["a", "b", "c", "d"];
    assert.equal(seededPick(items, 42), seededPick(items, 42));
    const seen = new Set(Array.from({ length: 200 }, (_, i) => seededPick(items, i)));
    assert.equal(seen.size, items.length);
  });
});

describe("computeRecovery", () => {
  it("a fault no probe noticed recovers at once, detected only if the platform noticed", () => {
    const s = [ok("a", 0), ok("a", 1000), ok("a", 2000), ok("a", 3000)];
    assert.deepEqual(computeRecovery(s, [], 1500, null), { detectionSeconds: null, recoverySeconds: 0, impact: false });
    assert.deepEqual(computeRecovery(s, [], 1500, 1800), { detectionSeconds: 0.3, recoverySeconds: 0, impact: false });
  });

  it("detection is the first failure seen; recovery the first success after each stream's last failure", () => {
    const s = [
      ok("a", 0),
      bad("a", 1000, 3000),
      bad("a", 1200, 3000),
      ok("a", 3100, 3150),
      ok("b", 1000),
      bad("b", 2000, 4000),
      ok("b", 4100, 4200),
    ];
    const r = computeRecovery(s, [], 1000, null);
    assert.equal(r.detectionSeconds, 2);
    assert.equal(r.recoverySeconds, 3.2);
    assert.equal(r.impact, true);
  });

  it("an intermittent failure (round-robin onto a dead instance) has not recovered until failures stop", () => {
    const s = [bad("a", 1000, 3000), ok("a", 1200, 1300), bad("a", 4000, 6000), ok("a", 6100, 6200)];
    assert.equal(computeRecovery(s, [], 1000, null).recoverySeconds, 5.2);
  });

  it("waits for the platform's own recovery where the fault has one (a replica promoted)", () => {
    const s = [ok("a", 0), ok("a", 5000)];
    assert.equal(computeRecovery(s, [], 1000, 1100, 6600).recoverySeconds, 5.6);
    assert.equal(computeRecovery(s, [], 1000, 1100, null).recoverySeconds, null);
  });

  it("a stream that never succeeds again has not recovered", () => {
    const s = [ok("a", 0), bad("a", 1000), bad("a", 2000, null)];
    assert.equal(computeRecovery(s, [], 500, null).recoverySeconds, null);
  });

  it("every dropped client must be back: the last re-open counts", () => {
    const s = [ok("a", 0), ok("a", 5000)];
    const ev: ConnectionEvent[] = [
      { client: "r1", atMs: 0, kind: "open" },
      { client: "r1", atMs: 1100, kind: "close" },
      { client: "r2", atMs: 1150, kind: "close" },
      { client: "r1", atMs: 1500, kind: "open" },
      { client: "r2", atMs: 3000, kind: "open" },
    ];
    const r = computeRecovery(s, ev, 1000, null);
    assert.equal(r.detectionSeconds, 0.1);
    assert.equal(r.recoverySeconds, 2);
    assert.equal(computeRecovery(s, ev.slice(0, 4), 1000, null).recoverySeconds, null);
  });
});

describe("verdict", () => {
  const rec = { detectionSeconds: 1, recoverySeconds: 4, impact: true };
  it("passes within budget with nothing lost", () => {
    assert.deepEqual(verdict("message-instance", 5, rec, clean, true), { passed: true, reasons: [] });
  });
  it("fails over budget, on loss, duplicates, seq regressions, no recovery, an unhealthy platform", () => {
    assert.deepEqual(verdict("message-instance", 3, rec, clean, true).reasons, [
      "message-instance: recovery took 4.0 s, over the 3 s budget",
    ]);
    assert.deepEqual(verdict("db", 30, { ...rec, recoverySeconds: null }, clean, true).reasons, [
      "db: no recovery within the observation window",
    ]);
    const v = verdict("db", 30, rec, { ...clean, lostAcknowledged: 2, duplicated: 1, seqMonotonic: false }, false);
    assert.equal(v.passed, false);
    assert.deepEqual(v.reasons, [
      "2 acknowledged message(s) lost",
      "1 message(s) delivered twice",
      "a receiver's seq went backwards",
      "the platform did not return to a healthy steady state after the restore",
    ]);
  });
});

describe("timelineSeries", () => {
  it("buckets probes per second: success share and slowest answer", () => {
    const t = timelineSeries([ok("a", 100, 150), bad("a", 500, 2500), ok("a", 1200, 1300)]);
    assert.deepEqual(t.success, [
      [0, 50],
      [1, 100],
    ]);
    assert.deepEqual(t.latency, [
      [0, 2],
      [1, 0.1],
    ]);
  });
});
