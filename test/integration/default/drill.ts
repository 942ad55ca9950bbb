/**
 * imctl drill on one real local platform: every fault of the issue runs once through the product's own message
 * probe, with 0 lost acknowledged messages, no duplicate, every seq monotonic, and the product's verdict against
 * the budgets (redis-primary 10 s, kafka-broker 15 s, gateway-instance 10 s, message-instance 5 s, db 30 s).
 * Also: a second workflow is refused while a drill holds the lock, Ctrl-C restores the platform and removes a
 * partition's rules, and `drill restore` destroys and restores the database with every table verified.
 *
 * This file replaces test/integration/faults.test.ts (the same kills with a test-only send loop): the drill's
 * probe is that loop, as product code.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Admin, FindCoordinatorKeyTypes } from "@platformatic/kafka";
import { execa, execaSync } from "execa";
import mysql from "mysql2/promise";
import { MESSAGES } from "../../../cli/src/commands/drill/messages.ts";
import { REPO_ROOT } from "../../../base/root.mjs";
import { FAULTS } from "../../../cli/src/commands/drill/model.ts";
import type { Secrets } from "../../../cli/src/targets/local/context.ts";
import { kafkaBootstrap } from "../../../cli/src/targets/local/components/kafka.ts";
import { leftoverGroups, removeLeftoverGroup } from "../../../cli/src/targets/local/partition.ts";
import type { DrillReport, RestoreReport } from "../../../cli/src/commands/drill/index.ts";
import { IMCTL } from "../../helpers/imctl.ts";
import type { TestPlatform } from "../../helpers/platform.ts";

let p: TestPlatform;

async function drill(...args: string[]): Promise<{ exitCode: number; report: DrillReport; stderr: string }> {
  const r = await p.run("drill", "run", ...args, "--yes", "--json");
  let report: DrillReport;
  try {
    report = JSON.parse(r.stdout) as DrillReport;
  } catch {
    assert.fail(
      `imctl drill run ${args.join(" ")} printed no report (exit ${r.exitCode}):\n${r.stderr.split("\n").slice(-15).join("\n")}`,
    );
  }
  // An error ends the command with {error, exitCode} instead of a report: say which, with the run's last lines.
  const failed = (report as unknown as { error?: string }).error;
  if (failed !== undefined)
    assert.fail(
      `imctl drill run ${args.join(" ")} failed (exit ${r.exitCode}): ${failed}\n${r.stderr.split("\n").slice(-15).join("\n")}`,
    );
  return { exitCode: r.exitCode, report, stderr: r.stderr };
}

/** The hypothesis of every drill: nothing acknowledged lost, nothing twice, seqs in order, the verdict passed. */
function assertHeld(r: { exitCode: number; report: DrillReport; stderr: string }, fault: string, budget: number): void {
  const x = r.report;
  const summary = JSON.stringify({ ...x, platform: undefined, files: undefined });
  assert.equal(x.fault, fault);
  assert.equal(x.budgetSeconds, budget);
  assert.ok(x.sent > 0 && x.acknowledged > 0, `the probe sent nothing: ${summary}`);
  assert.equal(x.lostAcknowledged, 0, `acknowledged messages lost: ${summary}`);
  assert.equal(x.duplicated, 0, `messages delivered twice: ${summary}`);
  assert.equal(x.seqMonotonic, true, `a receiver's seq went backwards: ${summary}`);
  assert.equal(x.seqGaps, 0, `a receiver's seq skipped: ${summary}`);
  assert.ok(x.delivered >= x.acknowledged, summary);
  // The product's verdict against the budget (recovery within budget, nothing lost): the Done-when.
  assert.equal(x.phase, "Passed", `${fault} failed its hypothesis: ${x.reasons.join("; ")}: ${summary}`);
  assert.equal(x.passed, true);
  assert.equal(r.exitCode, 0);
  assert.ok(x.recoverySeconds !== null && x.recoverySeconds <= budget, summary);
  assert.ok(readFileSync(x.files.timeline, "utf8").startsWith("<svg"), "timeline.svg is an SVG");
  const saved = JSON.parse(readFileSync(x.files.report, "utf8")) as DrillReport;
  assert.equal(saved.id, x.id);
  // Every figure the issue names is in the JSON.
  for (const k of [
    "fault",
    "detectionSeconds",
    "recoverySeconds",
    "sent",
    "acknowledged",
    "delivered",
    "lostAcknowledged",
    "duplicated",
    "seqMonotonic",
    "passed",
  ])
    assert.ok(k in x, `report lacks ${k}`);
  process.stderr.write(
    `drill ${fault}: detection ${x.detectionSeconds ?? "-"} s, recovery ${x.recoverySeconds} s (budget ${budget} s), ` +
      `${x.sent} sent, ${x.acknowledged} acked, ${x.delivered} delivered, ${x.lostAcknowledged} lost\n`,
  );
}

/** The phase of the newest drill whose id starts with `prefix`, from its persisted record. */
function phaseOf(prefix: string): string | undefined {
  const dir = join(p.stateDir, "drills");
  if (!existsSync(dir)) return undefined;
  const id = readdirSync(dir)
    .filter((x) => x.startsWith(prefix))
    .sort()
    .pop();
  const f = id === undefined ? undefined : join(dir, id, "drill.json");
  return f !== undefined && existsSync(f)
    ? (JSON.parse(readFileSync(f, "utf8")) as { phase: string }).phase
    : undefined;
}

/** A partition's leftovers: its nftables table and its cgroup. */
function drillTables(): string[] {
  const r = execaSync(join(REPO_ROOT, ".tools", "bin", "nft"), ["list", "tables"], { reject: false });
  return [
    ...String(r.stdout)
      .split("\n")
      .filter((l) => l.includes("imctl_drill_")),
    ...leftoverGroups().map((g) => `cgroup ${g}`),
  ];
}

/** A partition drill of 60 s as its own imctl process, for the tests that interrupt it (Ctrl-C, SIGKILL). */
function longPartition(extra: string[]) {
  return execa(
    process.execPath,
    [
      IMCTL,
      "drill",
      "run",
      "partition",
      "--partition-seconds",
      "60s",
      "--duration",
      "70s",
      "--yes",
      ...extra,
      "--stack",
      p.stack,
    ],
    { env: { IMCTL_STATE_DIR: p.stateDir }, reject: false, stdin: "ignore" },
  );
}

export function drillSuite(platform: () => Promise<TestPlatform>): void {
  describe("imctl drill on the local target", { timeout: 900_000 }, () => {
    before(async () => {
      p = await platform();
    });

    after(async () => {
      // A test that failed mid-drill may leave a partition's table behind; it would cut off the next platform that
      // uses these ports (the local target's state, which knows the drill, is deleted with the platform).
      for (const t of drillTables()) {
        if (t.startsWith("table "))
          execaSync(join(REPO_ROOT, ".tools", "bin", "nft"), ["delete", ...t.split(" ")], { reject: false });
        else removeLeftoverGroup(t.replace(/^cgroup /, ""));
      }
    });

    it("rejects bad input and unconfirmed drills with one line, touching nothing", async () => {
      const bad = await p.run("drill", "run", "disk", "--yes");
      assert.equal(bad.exitCode, 2);
      assert.ok(bad.stderr.includes(`unknown fault "disk": allowed are ${FAULTS.join(", ")}`), bad.stderr);
      const unconfirmed = await p.run("drill", "run", "db");
      assert.equal(unconfirmed.exitCode, 2);
      assert.ok(unconfirmed.stderr.includes(MESSAGES.confirmDrill("db")), unconfirmed.stderr);
      const k8s = await p.run("drill", "run", "db", "--target", "kubernetes", "--yes");
      assert.equal(k8s.exitCode, 2);
      assert.ok(k8s.stderr.includes(MESSAGES.drillKubernetes), k8s.stderr);
      // The local stack runs one user-center: killing it is an outage, not a failover, and the drill says so.
      const single = await p.run("drill", "run", "user-center-instance", "--yes");
      assert.equal(single.exitCode, 2);
      assert.ok(
        single.stderr.includes("user-center has 1 replica on this stack: killing it is an outage, not a failover"),
        single.stderr,
      );
      const restore = await p.run("drill", "restore");
      assert.equal(restore.exitCode, 2);
      assert.ok(restore.stderr.includes(MESSAGES.confirmRestoreDrill), restore.stderr);
      assert.equal(existsSync(join(p.stateDir, "drills")), false, "a rejected drill leaves no state");
    });

    it("message-instance within 5 s; meanwhile a second workflow is refused the lock", async () => {
      let done = false;
      const first = drill("message-instance", "--duration", "20s").finally(() => (done = true));
      // The second workflow comes while the first is mid-drill (its fault injected), not before it took the lock.
      const deadline = Date.now() + 60_000;
      while (!done && phaseOf("message-instance-") !== "Observing" && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      if (done) assertHeld(await first, "message-instance", 5);
      const second = await p.run("drill", "run", "db", "--yes");
      assert.equal(second.exitCode, 2);
      assert.ok(second.stderr.includes(MESSAGES.locked('"imctl drill run message-instance"')), second.stderr);
      assertHeld(await first, "message-instance", 5);
    });

    it("redis-primary within 10 s (a replica is promoted)", async () => {
      const r = await drill("redis-primary", "--duration", "25s");
      assertHeld(r, "redis-primary", 10);
      assert.ok(
        r.report.platform.some((n) => n.what.startsWith("failover: replica")),
        JSON.stringify(r.report.platform),
      );
    });

    it("kafka-broker (hard kill) within 15 s", async () => {
      assertHeld(await drill("kafka-broker", "--duration", "30s"), "kafka-broker", 15);
    });

    it("kafka-broker (graceful stop)", async () => {
      assertHeld(await drill("kafka-broker", "--mode", "graceful", "--duration", "30s"), "kafka-broker", 15);
    });

    it("kafka-broker (graceful stop of the fan-out group's coordinator): the message instances replace their consumers and live on", async () => {
      const host = p.spec.local.bindAddress;
      const admin = new Admin({ clientId: "drill-test", bootstrapBrokers: kafkaBootstrap({ spec: p.spec, host }) });
      const coordinator = await admin
        .findCoordinator({ keyType: FindCoordinatorKeyTypes.GROUP, keys: ["im-fanout"] })
        .finally(() => admin.close());
      const broker = `kafka-${coordinator[0]?.nodeId}`;
      const restarts = async (): Promise<number> => {
        let total = 0;
        for (let i = 0; i < p.spec.services.message.replicas; i++) {
          const text = await (await fetch(`http://${host}:${p.spec.local.ports.message + i}/metrics`)).text();
          for (const m of text.matchAll(/^im_message_fanout_consumer_restarts_total\{[^}]*\} (\S+)$/gm))
            total += Number(m[1]);
        }
        return total;
      };
      const before = await restarts();
      const r = await drill("kafka-broker", "--mode", "graceful", "--instance", broker, "--duration", "30s");
      assertHeld(r, "kafka-broker", 15);
      assert.equal(r.report.component, broker);
      // Every component, each message instance among them, is running after the restore.
      const status = await p.run("local", "status");
      assert.equal(status.exitCode, 0, status.stdout);
      // The coordinator's loss was met by replacing consumers, not by luck: 1.35 never looks a coordinator up again.
      assert.ok((await restarts()) > before, "no message instance replaced its fan-out consumer");
    });

    it("gateway-instance: every probe client back within 10 s", async () => {
      const r = await drill("gateway-instance", "--duration", "20s");
      assertHeld(r, "gateway-instance", 10);
      assert.match(r.report.component, /^gateway-\d+$/);
    });

    it("db restart within 30 s", async () => {
      assertHeld(await drill("db", "--duration", "30s"), "db", 30);
    });

    it("random-instance picks reproducibly from the seed", async () => {
      const r = await drill("random-instance", "--seed", "11", "--duration", "20s");
      assertHeld(r, "random-instance", 30);
      assert.equal(r.report.seed, 11);
    });

    it("partition: a message instance cut off both ways for 8 s; its rules and cgroup are gone afterwards", async () => {
      const r = await drill("partition", "--instance", "message-1", "--partition-seconds", "8s", "--duration", "25s");
      assertHeld(r, "partition", 30);
      assert.ok(
        r.report.platform.some((n) => n.what === "message-1 cut off both ways"),
        JSON.stringify(r.report.platform),
      );
      assert.deepEqual(drillTables(), []);
    });

    it("Ctrl-C restores at once: the partition's rules are removed and the platform is healthy", async () => {
      const child = longPartition(["--json"]);
      const deadline = Date.now() + 60_000;
      const observing = () => phaseOf("partition-") === "Observing" && drillTables().length > 0;
      while (!observing() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      if (!observing()) {
        child.kill("SIGKILL");
        const r = await child;
        assert.fail(
          `the drill never reached Observing with its partition in place ` +
            `(phase ${phaseOf("partition-") ?? "none"}, ${drillTables().join(", ") || "no tables"}):\n` +
            String(r.stderr).split("\n").slice(-12).join("\n"),
        );
      }
      child.kill("SIGINT");
      const r = await child;
      assert.equal(r.exitCode, 130, String(r.stderr).split("\n").slice(-5).join("\n"));
      const report = JSON.parse(String(r.stdout)) as DrillReport;
      assert.equal(report.phase, "Aborted");
      assert.deepEqual(report.reasons.slice(0, 1), ["interrupted (Ctrl-C)"]);
      assert.equal(report.lostAcknowledged, 0);
      assert.deepEqual(drillTables(), []);
      const status = await p.run("local", "status");
      assert.equal(status.exitCode, 0, status.stdout);
    });

    it("a guard that breaks restores at once and fails the drill", async () => {
      const r = await drill("message-instance", "--guard", "vector(1)", "--duration", "20s");
      assert.equal(r.exitCode, 1);
      assert.equal(r.report.phase, "Aborted");
      assert.equal(r.report.abortedBy, "guard");
      assert.deepEqual(r.report.reasons.slice(0, 1), ["guard: vector(1) is above 0"]);
      assert.ok(r.report.observedSeconds < 5, `observed ${r.report.observedSeconds} s after the guard broke`);
      assert.equal(r.report.lostAcknowledged, 0);
    });

    it("refuses to start on a platform out of its steady state, naming the component", async () => {
      process.kill(p.pid("redis-6"), "SIGKILL");
      const r = await p.run("drill", "run", "message-instance", "--yes");
      assert.equal(r.exitCode, 2);
      assert.ok(r.stderr.includes(MESSAGES.drillUnhealthy("redis-6", "not running")), r.stderr);
      const up = await p.run("local", "up");
      assert.equal(up.exitCode, 0, up.stderr.split("\n").slice(-5).join("\n"));
    });

    it(
      "an imctl killed mid-drill leaves its partition; the next drill command heals it first, then drill restore " +
        "runs: backup, destroy, restore, every table verified, RTO under 15 minutes",
      async () => {
        const child = longPartition([]);
        const deadline = Date.now() + 60_000;
        try {
          while (!(phaseOf("partition-") === "Observing" && drillTables().length > 0) && Date.now() < deadline)
            await new Promise((r) => setTimeout(r, 200));
        } finally {
          // Killed whatever happened above: a drill left running would hold the target's lock past this file.
          child.kill("SIGKILL");
          await child;
        }
        assert.ok(
          drillTables().some((t) => t.startsWith("table inet imctl_drill_partition")),
          "the killed drill's partition is still in place",
        );
        assert.equal(phaseOf("partition-"), "Observing");

        const r = await p.run("drill", "restore", "--yes", "--json");
        assert.ok(
          r.stderr.includes("was interrupted in Observing (imctl killed): restoring"),
          r.stderr.split("\n").slice(0, 5).join("\n"),
        );
        assert.deepEqual(drillTables(), []);
        assert.equal(phaseOf("partition-"), "Aborted");
        const report = JSON.parse(r.stdout) as RestoreReport;
        assert.equal(report.passed, true, report.reasons.join("; "));
        assert.equal(r.exitCode, 0, r.stderr.split("\n").slice(-10).join("\n"));
        assert.ok(report.tables.length >= 5);
        for (const t of report.tables)
          assert.ok(t.ok && t.rowsAfter === t.rowsBefore && t.checksumAfter === t.checksumBefore, JSON.stringify(t));
        // The drills above stored messages: the restored database holds them.
        assert.ok((report.tables.find((t) => t.table === "messages")?.rowsAfter ?? 0) > 0);
        assert.ok(report.rtoSeconds < 900);
        process.stderr.write(
          `drill restore: RTO ${report.rtoSeconds.toFixed(1)} s, backup ${report.backupSeconds.toFixed(1)} s, ${report.tables.length} tables verified\n`,
        );
        // The platform serves again: a drill's steady state holds, and the services may write (the drill refused their
        // writes while it destroyed, restored and verified the database).
        const status = await p.run("local", "status");
        assert.equal(status.exitCode, 0, status.stdout);
        const secrets = JSON.parse(readFileSync(join(p.stateDir, "secrets.json"), "utf8")) as Secrets;
        const conn = await mysql.createConnection({
          host: p.spec.local.bindAddress,
          port: p.spec.local.ports.database,
          user: secrets.dbAppUser,
          password: secrets.dbAppPassword,
          database: p.spec.data.database.name,
        });
        try {
          await conn.query(
            "INSERT INTO user_seq (user_id, last_seq) VALUES (?, 1) ON DUPLICATE KEY UPDATE last_seq = last_seq + 1",
            [929292],
          );
          await conn.query("DELETE FROM user_seq WHERE user_id = ?", [929292]);
        } finally {
          await conn.end();
        }
      },
    );
  });
}
