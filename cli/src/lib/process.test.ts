import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { isOurs, pidAlive } from "./process.ts";

describe("isOurs", () => {
  it("recognises a process of ours while it is between programs (nsenter becoming unshare becoming sleep)", async () => {
    // The real node's init is `nsenter ... unshare ... bash init`: CI once took it for a stopped node when it
    // was read in the instant nsenter's exec left its command line and environment empty.
    const marker = `/tmp/imctl-process-test-${process.pid}`;
    let missed = 0;
    for (let i = 0; i < 40; i++) {
      const child = spawn("nsenter", ["--", "unshare", "--fork", "sleep", "1"], {
        env: { ...process.env, IMCTL_MARKER: marker },
        detached: true,
        stdio: "ignore",
      });
      const pid = child.pid as number;
      const started = Date.now();
      // Read as often as possible for the first milliseconds, when the exec chain runs.
      while (Date.now() - started < 15) if (!isOurs(pid, marker)) missed++;
      process.kill(-pid, "SIGKILL");
      await new Promise((done) => child.once("exit", done));
    }
    assert.equal(missed, 0, `isOurs said no ${missed} times to a live process of ours`);
  });

  it("says no to a live process of somebody else and to a process that has ended", async () => {
    const child = spawn("sleep", ["5"], { stdio: "ignore" });
    const pid = child.pid as number;
    assert.equal(isOurs(pid, "/no/such/marker"), false);
    child.kill("SIGKILL");
    await new Promise((done) => child.once("exit", done));
    assert.equal(pidAlive(pid), false);
    assert.equal(isOurs(pid, "/no/such/marker"), false);
  });
});
