/**
 * Bad input to `imctl local`: each case gives one clear line on stderr, a non-zero exit, and changes nothing
 * (no state directory, no process started).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadSpec, requireLocal } from "../../infra/lib/spec.ts";
import { MESSAGES } from "../../cli/src/errors.ts";
import { imctl, tempDir, testStack } from "../helpers/imctl.ts";

const oneLine = (stderr: string) => {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  return lines[0] ?? "";
};

const nothingChanged = (stateDir: string) => {
  assert.ok(!existsSync(stateDir) || readdirSync(stateDir).length === 0, `state directory was written: ${stateDir}`);
};

describe("imctl local: bad input changes nothing", () => {
  it("a stack file with a wrong type names the field, the value and what is allowed", async () => {
    const stack = testStack(3000, (s) => {
      (s.data as { kafka: { brokers: unknown } }).kafka.brokers = "three";
    });
    const state = join(tempDir("bad"), "state");
    const r = await imctl(["local", "up", "--stack", stack], { IMCTL_STATE_DIR: state });
    assert.equal(r.exitCode, 2);
    assert.equal(oneLine(r.stderr), `imctl: ${stack}: data.kafka.brokers: got "three"; expected number`);
    nothingChanged(state);
  });

  it("logs of an unknown component lists the allowed ones", async () => {
    const r = await imctl(["local", "logs", "nosuch", "--stack", testStack(3000)], {
      IMCTL_STATE_DIR: join(tempDir("bad"), "state"),
    });
    assert.equal(r.exitCode, 2);
    assert.match(
      oneLine(r.stderr),
      /^imctl: unknown component "nosuch": allowed are redis-1, .*kafka-1, .*mariadb, nginx, .*prometheus$/,
    );
  });

  it("a configured port already taken is reported before anything starts", async () => {
    const stack = testStack(3000);
    const spec = requireLocal(loadSpec(stack), stack);
    const port = spec.local.ports.database;
    const blocker: Server = await new Promise((resolve) => {
      const s = createServer();
      s.listen(port, spec.local.bindAddress, () => resolve(s));
    });
    const state = join(tempDir("bad"), "state");
    try {
      const r = await imctl(["local", "up", "--stack", stack], { IMCTL_STATE_DIR: state });
      assert.equal(r.exitCode, 2);
      assert.equal(oneLine(r.stderr), `imctl: ${MESSAGES.portInUse(port, "mariadb", "local.ports.database")}`);
      nothingChanged(state);
    } finally {
      blocker.close();
    }
  });

  it("a missing tool names the tool and the command that installs it", async () => {
    const tools = tempDir("no-tools");
    mkdirSync(join(tools, "bin"));
    const state = join(tempDir("bad"), "state");
    const r = await imctl(["local", "up", "--stack", testStack(3000)], {
      IMCTL_STATE_DIR: state,
      IMCTL_TOOLS_DIR: tools,
    });
    assert.equal(r.exitCode, 2);
    assert.equal(
      oneLine(r.stderr),
      `imctl: ${MESSAGES.missingTool("redis-server", join(tools, "bin", "redis-server"))}`,
    );
    nothingChanged(state);
  });

  it("reset without --yes refuses and deletes nothing", async () => {
    const state = join(tempDir("bad"), "state");
    mkdirSync(state, { recursive: true });
    writeFileSync(join(state, "keep-me"), "data");
    const stack = testStack(3000);
    // A state directory of a platform (a folder without state.json is refused as not imctl's before --yes).
    writeFileSync(join(state, "state.json"), JSON.stringify({ version: 1, stack, components: {} }));
    const r = await imctl(["local", "reset", "--stack", stack], { IMCTL_STATE_DIR: state });
    assert.equal(r.exitCode, 2);
    assert.equal(oneLine(r.stderr), `imctl: ${MESSAGES.confirmReset}`);
    assert.ok(existsSync(join(state, "keep-me")));
  });

  it("a second workflow on a locked target is refused with the holder named", async () => {
    const state = join(tempDir("bad"), "state");
    mkdirSync(state, { recursive: true });
    // The lock's holder is this test process: alive, so the lock is not stale.
    writeFileSync(
      join(state, "lock"),
      JSON.stringify({ pid: process.pid, command: "imctl local up", since: "2026-11-23T00:00:00.000Z" }),
    );
    writeFileSync(join(state, "state.json"), JSON.stringify({ version: 1, stack: "", components: {} }));
    const r = await imctl(["local", "down", "--stack", testStack(3000)], { IMCTL_STATE_DIR: state });
    assert.equal(r.exitCode, 2);
    assert.equal(
      oneLine(r.stderr),
      `imctl: ${MESSAGES.locked(`"imctl local up" (pid ${process.pid}, since 2026-11-23T00:00:00.000Z)`)}`,
    );
  });

  it("a usage error (unknown command, bad --lines) exits 2", async () => {
    assert.equal((await imctl(["local", "nosuch"])).exitCode, 2);
    const r = await imctl(["local", "logs", "redis-1", "--lines", "-5"]);
    assert.equal(r.exitCode, 2);
    assert.equal(
      oneLine(r.stderr),
      'imctl: --lines: got "-5"; allowed: a whole number from 1 to 100,000; see imctl local logs --help',
    );
  });
});
