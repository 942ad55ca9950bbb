/**
 * imctl loadtest against the real local platform with the real k6: the smoke scenario passes its thresholds,
 * and a breached threshold is a non-zero exit (k6's 99) whose message names the threshold.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { before, describe, it } from "node:test";
import type { LoadtestResult } from "../../../cli/src/commands/loadtest/index.ts";
import type { TestPlatform } from "../../helpers/platform.ts";
import { recentServiceLogs } from "../../helpers/service-logs.ts";

let p: TestPlatform;

export function loadtestSuite(platform: () => Promise<TestPlatform>): void {
  describe("imctl loadtest (k6 against the real platform)", { timeout: 900_000 }, () => {
    before(async () => {
      p = await platform();
    });

    it("runs the smoke scenario through k6: every message delivered, thresholds passed, a latency picture drawn", async () => {
      // The latency bar is the benchmarks' business (timing never decides a test here): a loose bound keeps this
      // about the pipeline and delivery, which must hold on a loaded machine too.
      const since = Date.now() - 60_000;
      const r = await p.runBare("loadtest", "run", "smoke", "--target", p.lbUrl, "--max-p99", "5000", "--json");
      assert.equal(
        r.exitCode,
        0,
        `${r.stderr.split("\n").slice(-10).join("\n")}\n${r.stdout.slice(0, 2000)}\n` +
          `the services since a minute before the run:\n${recentServiceLogs(p.stateDir, since)}`,
      );
      const res = JSON.parse(r.stdout) as LoadtestResult;
      assert.equal(res.passed, true);
      assert.equal(res.figures.lost, 0);
      assert.ok(res.figures.sent > 0);
      assert.equal(res.figures.received, res.figures.sent);
      assert.equal(res.figures.requestErrors, 0);
      assert.equal(res.figures.scriptErrors, 0);
      assert.ok(
        res.thresholds.some((t) => t.metric === "im_delivery_latency" && t.expression === "p(99)<5000" && t.passed),
      );
      assert.ok(res.thresholds.some((t) => t.metric === "im_lost_messages" && t.expression === "count==0" && t.passed));
      assert.ok(res.files.latencyChart && existsSync(res.files.latencyChart));
      assert.match(r.stderr, /k6: running/, "k6's progress is shown");
    });

    it("turns a breached threshold into exit code 99 and names it", async () => {
      const r = await p.runBare(
        "loadtest",
        "run",
        "smoke",
        "--target",
        p.lbUrl,
        "--duration",
        "3s",
        "--max-p99",
        "0.001",
      );
      assert.equal(r.exitCode, 99, r.stderr.split("\n").slice(-5).join("\n"));
      assert.match(r.stdout, /FAILED: thresholds breached: im_delivery_latency p\(99\)<0\.001/);
      assert.match(r.stdout, /im_delivery_latency\s+p\(99\)<0\.001\s+BREACHED/);
    });

    it("refuses an unknown scenario or a bad duration in one line, before running k6", async () => {
      const a = await p.runBare("loadtest", "run", "nosuch", "--target", p.lbUrl);
      assert.equal(a.exitCode, 2);
      assert.equal(
        a.stderr.trim(),
        'imctl: unknown scenario "nosuch": allowed are smoke, messaging, group-fanout, connect-storm, login-burst, soak, group-growth',
      );
      const b = await p.runBare("loadtest", "run", "smoke", "--target", p.lbUrl, "--duration", "5x");
      assert.equal(b.exitCode, 2);
      assert.equal(
        b.stderr.trim(),
        'imctl: --duration: got "5x"; allowed: 1s to 24h, a number with ms, s, m, h; see imctl loadtest run --help',
      );
      const c = await p.runBare("loadtest", "run", "smoke", "--target", "ftp://x");
      assert.equal(c.exitCode, 2);
      assert.match(c.stderr, /--target: got "ftp:\/\/x"; allowed: "local" or the platform's edge URL/);
    });
  });
}
