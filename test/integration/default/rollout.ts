/**
 * imctl rollout on the real local platform under k6 load: bad input changes nothing; a good gateway version is
 * promoted to 100 % and a bad one (started with GATEWAY_FAULT_LATENCY_MS) is aborted by its analysis, and in
 * both runs the load test's lost-messages metric is 0 although the canary's WebSockets are drained.
 */
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import type { LoadtestResult } from "../../../cli/src/commands/loadtest/index.ts";
import type { RolloutResult } from "../../../cli/src/commands/rollout/index.ts";
import { readAudit, type AuditEntry } from "../../../cli/src/commands/rollout/store.ts";
import { MESSAGES } from "../../../cli/src/commands/rollout/messages.ts";
import { tempDir } from "../../helpers/imctl.ts";
import { eventually, recorder } from "../../helpers/messaging.ts";
import { makeUsers, type TestPlatform } from "../../helpers/platform.ts";
import { recentServiceLogs } from "../../helpers/service-logs.ts";
import { gatewayStrategy as strategy } from "../../helpers/rollout-strategy.ts";

let p: TestPlatform;
const dir = tempDir("rollout");

const json = <T>(stdout: string): T => JSON.parse(stdout) as T;
const tail = (s: string, n = 25) => s.split("\n").slice(-n).join("\n");

async function statusOf(): Promise<RolloutResult | null> {
  const r = await p.run("rollout", "status", "gateway", "--json");
  return r.exitCode === 0 ? json<RolloutResult>(r.stdout) : null;
}

/** Polls status until `ok` holds; bounded (the rollout process itself ends the wait when it exits). */
async function waitFor(ok: (s: RolloutResult) => boolean, running: { done: boolean }): Promise<RolloutResult> {
  for (let i = 0; i < 300 && !running.done; i++) {
    const s = await statusOf();
    if (s && ok(s)) return s;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("the rollout ended (or 150 s passed) before the awaited state");
}

/** `<state>/rollouts/audit.jsonl`, read by the store (its lines are in the workflows' common record format). */
function audit(): AuditEntry[] {
  return readAudit(p.stateDir);
}

/** Starts a rollout, waits for its 30 % step, runs k6 messaging while it goes on, returns both results. */
/** k6's journeys that ended short, and the services' warnings and fan-out events since `since`; "" when none did. */
function shortJourneys(k6Stderr: string, since: number): string {
  const lines = k6Stderr
    .split("\n")
    .filter((x) => x.includes("ended short"))
    .slice(0, 12);
  if (lines.length === 0) return "";
  return `${lines.join("\n")}\nthe services meanwhile:\n${recentServiceLogs(p.stateDir, since)}`;
}

async function rolloutUnderLoad(
  version: string,
  env: string[],
): Promise<{ rollout: RolloutResult; exitCode: number; stderr: string; load: LoadtestResult; short: string }> {
  const since = Date.now();
  const file = join(dir, "strategy.yaml");
  writeFileSync(file, stringify(strategy));
  const running = { done: false };
  const start = p
    .run(
      "rollout",
      "start",
      "gateway",
      "--version",
      version,
      "--strategy",
      file,
      ...env.flatMap((e) => ["--env", e]),
      "--json",
    )
    .finally(() => {
      running.done = true;
    });
  await waitFor((s) => s.canaryWeight === 30, running);
  const load = p.run(
    "loadtest",
    "run",
    "messaging",
    "--vus",
    "40",
    "--rate",
    "20",
    "--duration",
    "45s",
    "--max-p99",
    "5000",
    "--json",
  );
  const [r, l] = await Promise.all([start, load]);
  assert.ok(l.stdout.trim().startsWith("{"), `k6 gave no result (exit ${l.exitCode}):\n${tail(l.stderr)}`);
  assert.ok(r.stdout.trim().startsWith("{"), `rollout gave no result (exit ${r.exitCode}):\n${tail(r.stderr, 40)}`);
  return {
    rollout: json<RolloutResult>(r.stdout),
    exitCode: r.exitCode,
    stderr: r.stderr,
    load: json<LoadtestResult>(l.stdout),
    // k6's journeys that ended short say what they saw (opened, sent, acked, received), and the services what they
    // did meanwhile: what a loss needs explained.
    short: shortJourneys(l.stderr, since),
  };
}

async function waitForService(
  service: string,
  ok: (s: RolloutResult) => boolean,
  running: { done: boolean },
): Promise<RolloutResult> {
  for (let i = 0; i < 240 && !running.done; i++) {
    const r = await p.run("rollout", "status", service, "--json");
    if (r.exitCode === 0) {
      const s = json<RolloutResult>(r.stdout);
      if (ok(s)) return s;
    }
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(`the ${service} rollout ended (or 120 s passed) before the awaited state`);
}

function fetchWaitFor(running: { done: boolean }): Promise<RolloutResult> {
  return (async () => {
    for (let i = 0; i < 120 && !running.done; i++) {
      const r = await p.run("rollout", "status", "user-center", "--json");
      if (r.exitCode === 0) {
        const s = json<RolloutResult>(r.stdout);
        if (s.phase === "Paused" && s.canaryWeight === 50) return s;
      }
      await new Promise((res) => setTimeout(res, 500));
    }
    throw new Error("the user-center rollout never paused at 50 %");
  })();
}

async function gatewayVersions(): Promise<string[]> {
  const base = p.spec.local.ports.gateway;
  return Promise.all(
    Array.from({ length: p.spec.services.gateway.replicas }, async (_, i) => {
      const res = await fetch(`http://${p.spec.local.bindAddress}:${base + i}/readyz`);
      return ((await res.json()) as { version: string }).version;
    }),
  );
}

export function rolloutSuite(platform: () => Promise<TestPlatform>): void {
  describe("imctl rollout (canaries on the local target, the gateway under k6 load)", { timeout: 1_200_000 }, () => {
    before(async () => {
      p = await platform();
    });

    after(async () => {
      // A test that failed mid-rollout leaves it running (and the target locked): abort, so the platform goes down
      // and the suites after this one find it at rest.
      if (p)
        for (const svc of ["gateway", "message", "user-center"])
          await p.run("rollout", "abort", svc, "--reason", "test teardown");
    });

    it("rejects bad input in one line and changes nothing; one rollout per service; an operator's abort drains the canary", async () => {
      const promote = await p.run("rollout", "promote", "gateway");
      assert.equal(promote.exitCode, 2);
      assert.equal(promote.stderr.trim(), `imctl: ${MESSAGES.rolloutNone("gateway")}`);
      const unknown = await p.run("rollout", "start", "chat", "--version", "2.0.0");
      assert.equal(unknown.exitCode, 2);
      assert.equal(unknown.stderr.trim(), `imctl: ${MESSAGES.unknownService("chat")}`);
      const weightFile = join(dir, "weight.yaml");
      writeFileSync(weightFile, stringify({ steps: [{ setWeight: 150 }] }));
      const weight = await p.run("rollout", "start", "gateway", "--version", "2.0.0", "--strategy", weightFile);
      assert.equal(weight.exitCode, 2);
      assert.equal(weight.stderr.trim(), `imctl: ${MESSAGES.strategyWeight(weightFile, "steps[0]", 150)}`);
      const never = join(dir, "never.yaml");
      writeFileSync(never, stringify({ steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 50 }] }));
      const n = await p.run("rollout", "start", "gateway", "--version", "2.0.0", "--strategy", never);
      assert.equal(n.exitCode, 2);
      assert.equal(n.stderr.trim(), `imctl: ${MESSAGES.strategyNever100(never, 50)}`);
      assert.ok(!existsSync(join(p.stateDir, "rollouts", "gateway.json")), "a rejected start records nothing");
      assert.ok(!existsSync(join(p.stateDir, "canary")), "a rejected start starts nothing");

      // A rollout that waits for promotion; a second one on the same service is refused.
      const hold = join(dir, "hold.yaml");
      writeFileSync(hold, stringify({ steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 100 }] }));
      const running = { done: false };
      const first = p
        .run("rollout", "start", "gateway", "--version", "1.9.0", "--strategy", hold, "--json")
        .finally(() => {
          running.done = true;
        });
      const paused = await waitFor((s) => s.phase === "Paused", running);
      assert.equal(paused.canaryWeight, 10);
      assert.equal(paused.step, 1);
      const second = await p.run("rollout", "start", "gateway", "--version", "1.9.1");
      assert.equal(second.exitCode, 2);
      assert.equal(second.stderr.trim(), `imctl: ${MESSAGES.rolloutInProgress("gateway", "Paused", "2/3", "1.9.0")}`);
      // The target lock is held: a second workflow cannot start on this target meanwhile.
      assert.ok(existsSync(join(p.stateDir, "lock")));
      const during = await p.run("local", "status", "--json");
      assert.match(during.stdout, /"id": "gateway-canary-1"/, "local status shows the canary instance");

      // imctl killed: the rollout survives on disk; abort then acts directly (no controller to hand it to).
      assert.ok(paused.controller);
      process.kill(paused.controller.pid, "SIGKILL");
      await first;
      const orphan = await statusOf();
      assert.equal(orphan?.phase, "Paused");
      assert.equal(orphan?.controller, null);
      const direct = await p.run(
        "rollout",
        "abort",
        "gateway",
        "--reason",
        "test: abort without a controller",
        "--json",
      );
      assert.equal(direct.exitCode, 0, tail(direct.stderr));
      const d = json<RolloutResult>(direct.stdout);
      assert.equal(d.phase, "Aborted");
      assert.equal(d.reason, "test: abort without a controller");
      assert.equal(d.canaryWeight, 0);
      assert.ok(!existsSync(join(p.stateDir, "canary", "gateway.json")), "the canary is gone");

      // Killed again, then resumed: the resumed controller takes an operator's abort through the intent file.
      const again = { done: false };
      const second2 = p
        .run("rollout", "start", "gateway", "--version", "1.9.2", "--strategy", hold, "--json")
        .finally(() => {
          again.done = true;
        });
      const paused2 = await waitFor((s) => s.phase === "Paused" && s.controller !== null, again);
      assert.ok(paused2.controller);
      process.kill(paused2.controller.pid, "SIGKILL");
      await second2;
      const resumedDone = { done: false };
      const resumed = p.run("rollout", "resume", "gateway", "--json").finally(() => {
        resumedDone.done = true;
      });
      const back = await waitFor(
        (s) => s.phase === "Paused" && s.controller !== null && s.controller.pid !== paused2.controller?.pid,
        resumedDone,
      );
      assert.equal(back.canaryWeight, 10, "resumed at the persisted weight");
      const abort = await p.run("rollout", "abort", "gateway", "--reason", "test: operator abort", "--json");
      assert.equal(abort.exitCode, 0, abort.stderr);
      const r = await resumed;
      const res = json<RolloutResult>(r.stdout);
      assert.equal(r.exitCode, 1, "an aborted rollout exits 1");
      assert.equal(res.phase, "Aborted");
      assert.equal(res.reason, "test: operator abort");
      assert.equal(res.canaryWeight, 0);
      assert.ok(!existsSync(join(p.stateDir, "canary", "gateway.json")), "the canary is gone");
      const st = await p.run("local", "status", "--json");
      assert.ok(!st.stdout.includes("gateway-canary-1"), "no canary instance left in local status");
      const whats = audit().map((e) => e.what);
      for (const w of ["resumed", "abort requested", "Aborted", "canary removed"])
        assert.ok(whats.includes(w), `audit has ${w}`);
    });

    it("promotes a good version to 100 % under load, drains the canary, and loses nothing", async () => {
      const { rollout, exitCode, stderr, load, short } = await rolloutUnderLoad("2.0.0", []);
      assert.equal(exitCode, 0, tail(stderr, 40));
      assert.equal(rollout.phase, "Promoted", rollout.reason ?? "");
      assert.equal(rollout.canaryWeight, 100);
      assert.equal(rollout.stableVersion, "2.0.0");
      const whats = audit()
        .filter((e) => e.rollout === rollout.rollout.id)
        .map((e) => e.what);
      for (const w of [
        "Pending",
        "Progressing",
        "setWeight 30",
        "Paused",
        "analysis successful",
        "setWeight 100",
        "promoting",
        "Promoted",
      ])
        assert.ok(whats.includes(w), `audit has ${w}: ${whats.join(", ")}`);
      assert.ok(
        rollout.rollout.measurements.length >= 6 && rollout.rollout.measurements.every((m) => m.phase === "Successful"),
        JSON.stringify(rollout.rollout.measurements),
      );
      assert.deepEqual(await gatewayVersions(), ["2.0.0", "2.0.0"]);
      assert.ok(existsSync(join(process.cwd(), rollout.chart)) || existsSync(rollout.chart), "the picture is written");
      assert.equal(load.figures.scriptErrors, 0, "no k6 VU stopped by an exception (its sends would go unmade)");
      assert.equal(load.figures.lost, 0, `lost ${load.figures.lost} of ${load.figures.sent}\n${short}`);
      assert.ok(load.figures.sent > 0);
      process.stderr.write(
        `good rollout: k6 sent ${load.figures.sent}, received ${load.figures.received}, lost ${load.figures.lost}, ` +
          `reconnects ${load.figures.reconnects}, request errors ${load.figures.requestErrors}, ` +
          `delivery p99 ${load.figures.deliveryP99Ms} ms\n`,
      );
    });

    it("aborts a bad version after a failed measurement under load, with the reason, and loses nothing", async () => {
      const { rollout, exitCode, load, short } = await rolloutUnderLoad("2.1.0-bad", ["GATEWAY_FAULT_LATENCY_MS=1000"]);
      assert.equal(exitCode, 1);
      assert.equal(rollout.phase, "Aborted");
      assert.equal(rollout.canaryWeight, 0);
      assert.match(rollout.reason ?? "", /^analysis of step 3 failed: (send-p99|error-rate): /);
      const failed = rollout.rollout.measurements.filter((m) => m.phase === "Failed");
      assert.ok(failed.length >= 1, "a measurement failed");
      const entries = audit().filter((e) => e.rollout === rollout.rollout.id);
      const aborted = entries.find((e) => e.what === "Aborted");
      const weight0 = entries.find((e) => e.what === "canary weight 0");
      assert.ok(aborted && weight0, entries.map((e) => e.what).join(", "));
      assert.match(aborted.who, /^.+\/\d+$/, "who: $USER/pid");
      assert.match(aborted.why, /^analysis of step 3 failed/);
      const firstFail = failed[0];
      assert.ok(firstFail);
      // The abort follows the failed measurement (failureLimit 0): no measurement was taken after it.
      assert.ok(Date.parse(aborted.at) >= Date.parse(firstFail.at));
      assert.ok(rollout.rollout.measurements.every((m) => Date.parse(m.at) <= Date.parse(aborted.at)));
      assert.deepEqual(await gatewayVersions(), ["2.0.0", "2.0.0"], "stable untouched");
      assert.equal(load.figures.scriptErrors, 0, "no k6 VU stopped by an exception (its sends would go unmade)");
      assert.equal(load.figures.lost, 0, `lost ${load.figures.lost} of ${load.figures.sent}\n${short}`);
      process.stderr.write(
        `bad rollout: failed measurement ${firstFail.at} (${firstFail.message}), traffic back to stable ${weight0.at} ` +
          `(${Date.parse(weight0.at) - Date.parse(firstFail.at)} ms later); k6 sent ${load.figures.sent}, ` +
          `lost ${load.figures.lost}, reconnects ${load.figures.reconnects}, request errors ${load.figures.requestErrors}\n`,
      );
      const h = await p.run("rollout", "history", "gateway", "--json");
      assert.equal(h.exitCode, 0);
      const hist = json<{ rollouts: Array<{ phase: string }> }>(h.stdout);
      assert.deepEqual(
        hist.rollouts.map((x) => x.phase),
        ["Aborted", "Aborted", "Promoted", "Aborted"],
      );
    });

    it("undoes the last promotion: asks for --yes, then puts every stable gateway back on the release before it", async () => {
      const ask = await p.run("rollout", "undo", "gateway");
      assert.equal(ask.exitCode, 2);
      assert.match(
        ask.stderr.trim(),
        /^imctl: rollout undo replaces every stable gateway instance .*: pass --yes to confirm$/,
      );
      assert.deepEqual(await gatewayVersions(), ["2.0.0", "2.0.0"], "nothing changed without --yes");
      const r = await p.run("rollout", "undo", "gateway", "--yes", "--json");
      assert.equal(r.exitCode, 0, tail(r.stderr));
      assert.deepEqual(json<{ service: string; version: string }>(r.stdout), { service: "gateway", version: "0.1.0" });
      assert.deepEqual(await gatewayVersions(), ["0.1.0", "0.1.0"]);
      assert.ok(
        audit().some((e) => e.what === "undo" && e.why === "stable gateway back on 0.1.0"),
        "audit has the undo",
      );
      // Undo of the undo goes forward again: the release it replaced is now the one before.
      const again = await p.run("rollout", "undo", "gateway", "--yes", "--json");
      assert.equal(again.exitCode, 0, tail(again.stderr));
      assert.deepEqual(await gatewayVersions(), ["2.0.0", "2.0.0"]);
    });

    it(
      "runs a message canary behind the gateways: every gateway splits the sends 50/50 between the versions, " +
        "promotion under a send loop loses nothing",
      async () => {
        const file = join(dir, "msg.yaml");
        writeFileSync(file, stringify({ steps: [{ setWeight: 50 }, { pause: {} }, { setWeight: 100 }] }));
        const running = { done: false };
        const start = p
          .run("rollout", "start", "message", "--version", "4.0.0", "--strategy", file, "--json")
          .finally(() => {
            running.done = true;
          });
        const paused = await waitForService("message", (s) => s.phase === "Paused" && s.canaryWeight === 50, running);
        assert.equal(paused.version, "4.0.0");
        const host = p.spec.local.bindAddress;
        const canaryUrl = `http://${host}:${p.spec.local.ports.message + 50}`;
        const upstreamOf = async (port: number) =>
          (await (
            await fetch(`http://${host}:${port}/admin/v1/message-upstream`, {
              headers: { "x-im-internal": p.secrets.internalToken },
            })
          ).json()) as { urls: string[]; weight: number };
        const gw = p.spec.local.ports.gateway;
        assert.deepEqual(await upstreamOf(gw), { urls: [canaryUrl], weight: 50 });
        assert.deepEqual(await upstreamOf(gw + 1), { urls: [canaryUrl], weight: 50 });

        const [a, b] = await makeUsers(p.api, 2, "mc");
        assert.ok(a && b);
        const from = recorder(p.wsUrl, a);
        const to = recorder(p.wsUrl, b);
        await Promise.all([from.client.connect(), to.client.connect()]);
        const sendsBy = async (port: number) => {
          const text = await (await fetch(`http://${host}:${port}/metrics`)).text();
          return [
            ...text.matchAll(/^im_message_sends_total\{[^}]*kind="user"[^}]*result="stored"[^}]*\} (\d+)/gm),
          ].reduce((n, m) => n + Number(m[1]), 0);
        };
        const before = await Promise.all(
          [p.spec.local.ports.message, p.spec.local.ports.message + 1, p.spec.local.ports.message + 50].map(sendsBy),
        );
        for (let i = 0; i < 40; i++) await from.client.send({ kind: "user", id: b.userId }, `canary-${i}`);
        const after = await Promise.all(
          [p.spec.local.ports.message, p.spec.local.ports.message + 1, p.spec.local.ports.message + 50].map(sendsBy),
        );
        const stableShare = (after[0] ?? 0) - (before[0] ?? 0) + (after[1] ?? 0) - (before[1] ?? 0);
        const canaryShare = (after[2] ?? 0) - (before[2] ?? 0);
        assert.equal(
          stableShare + canaryShare,
          40,
          `every send stored once: stable ${stableShare}, canary ${canaryShare}`,
        );
        assert.ok(
          stableShare >= 5 && canaryShare >= 5,
          `both versions stored sends at 50 %: stable ${stableShare}, canary ${canaryShare}`,
        );

        // Promotion under a send loop: stables restart on 4.0.0 one by one, the canary drains; nothing is lost.
        const promote = await p.run("rollout", "promote", "message");
        assert.equal(promote.exitCode, 0, tail(promote.stderr));
        let sent = 40;
        while (!running.done && sent < 400) await from.client.send({ kind: "user", id: b.userId }, `canary-${sent++}`);
        const r = await start;
        assert.equal(r.exitCode, 0, tail(r.stderr, 30));
        assert.equal(json<RolloutResult>(r.stdout).phase, "Promoted");
        for (const port of [p.spec.local.ports.message, p.spec.local.ports.message + 1]) {
          const ready = await fetch(`http://${host}:${port}/readyz`);
          assert.equal(((await ready.json()) as { version: string }).version, "4.0.0");
        }
        assert.deepEqual(await upstreamOf(gw), { urls: [], weight: 0 }, "the gateways dropped the canary");
        assert.ok(!existsSync(join(p.stateDir, "canary", "message-upstream.json")));
        await eventually(
          `all ${sent} messages at the receiver`,
          () => new Set(to.received.map((m) => m.body)).size >= sent,
          30_000,
          () => `${new Set(to.received.map((m) => m.body)).size} received`,
        );
        assert.deepEqual(to.anomalies, []);
        from.client.close();
        to.client.close();
      },
    );

    it("runs a user-center canary behind nginx's /v1/ upstream: both versions answer at 50 %, then it is promoted", async () => {
      const file = join(dir, "uc.yaml");
      writeFileSync(
        file,
        stringify({ steps: [{ setWeight: 50 }, { pause: { duration: "10s" } }, { setWeight: 100 }] }),
      );
      const running = { done: false };
      const start = p
        .run("rollout", "start", "user-center", "--version", "3.0.0", "--strategy", file, "--json")
        .finally(() => {
          running.done = true;
        });
      const api = await fetchWaitFor(running);
      const versions = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const res = await fetch(`${p.lbUrl}/v1/sessions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ username: "nobody-here", password: "wrong-password-1" }),
        });
        versions.add(res.headers.get("x-im-version") ?? "none");
      }
      assert.deepEqual(
        [...versions].sort(),
        ["0.1.0", "3.0.0"].sort(),
        `versions seen at 50 %: ${[...versions].join(", ")} (weight ${api.canaryWeight})`,
      );
      const r = await start;
      assert.equal(r.exitCode, 0, tail(r.stderr, 30));
      const res = json<RolloutResult>(r.stdout);
      assert.equal(res.phase, "Promoted");
      const ready = await fetch(`http://${p.spec.local.bindAddress}:${p.spec.local.ports.userCenter}/readyz`);
      assert.equal(((await ready.json()) as { version: string }).version, "3.0.0");
      const after = await fetch(`${p.lbUrl}/v1/sessions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      assert.equal(after.headers.get("x-im-version"), "3.0.0", "the account API is served by the promoted version");
    });
  });
}
