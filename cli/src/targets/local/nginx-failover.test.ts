/**
 * The gateway upstream under the real nginx when every weighted entry has been marked down: one gateway dead (it
 * refuses connections), the other healthy again after a few failed answers (as during the reconnect burst after its
 * peer died). Plain HTTP through the same upstream block: nginx picks peers the same way for WebSocket upgrades.
 * With the backup entries the live gateway answers; without them (the configuration before) nginx says 502.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { toolPath } from "../../../../base/tools.mjs";
import { tempDir } from "../../../../test/helpers/imctl.ts";
import { GATEWAY_MAX_FAILS, renderNginxConf } from "./nginx-config.ts";

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe("gateway upstream with every weighted entry marked down", () => {
  const cleanup: Array<() => void> = [];
  after(() => {
    for (const c of cleanup) c();
  });

  /** Runs nginx with `conf`; returns the status of each GET through it, in order. */
  async function scenario(edit: (conf: string) => string): Promise<{ sickPhase: number[]; healthyPhase: number[] }> {
    let sick = true;
    const live: Server = createServer((_req, res) => {
      res.statusCode = sick ? 503 : 200;
      res.end(sick ? '{"error":"unavailable"}' : "ok");
    });
    await new Promise<void>((r) => live.listen(0, "127.0.0.1", () => r()));
    const dead = await freePort(); // nothing listens: connections are refused, as to a killed gateway
    const [listenPort, statusPort] = [await freePort(), await freePort()];
    const prefix = tempDir("nginx-failover");
    for (const d of ["tmp", "logs"]) mkdirSync(join(prefix, d), { recursive: true });
    const conf = join(prefix, "nginx.conf");
    const pool = {
      stable: [
        { id: "gateway-1", address: `127.0.0.1:${dead}` },
        { id: "gateway-2", address: `127.0.0.1:${(live.address() as AddressInfo).port}` },
      ],
      canary: [],
      canaryWeight: 0,
    };
    const settings = {
      prefix,
      host: "127.0.0.1",
      listenPort,
      statusPort,
      workerProcesses: 1,
      workerConnections: 256,
      workerShutdownTimeoutSeconds: 1,
      runAsRoot: process.getuid?.() === 0,
    };
    writeFileSync(conf, edit(renderNginxConf(settings, pool)));
    const nginx: ChildProcess = spawn(toolPath("nginx"), ["-p", `${prefix}/`, "-c", conf], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let errLog = "";
    nginx.stderr?.on("data", (d: Buffer) => (errLog += d.toString()));
    // SIGTERM: the master stops its workers (SIGKILL would leave the worker running, orphaned).
    const stopped = new Promise((r) => nginx.once("exit", r));
    const stop = async () => {
      nginx.kill("SIGTERM");
      await stopped;
    };
    cleanup.push(() => nginx.kill("SIGTERM"));
    const get = async () => {
      for (;;) {
        try {
          const res = await fetch(`http://127.0.0.1:${listenPort}/`);
          await res.arrayBuffer();
          return res.status;
        } catch {
          await new Promise((r) => setTimeout(r, 50)); // nginx still starting
        }
      }
    };
    // Enough failed attempts on each weighted entry to mark both down: refusals from the dead one, 503s from the
    // live one while it is "sick".
    const sickPhase: number[] = [];
    const bDown = () => /temporarily disabled while reading response header/.test(errLog);
    for (let i = 0; i < 10 * GATEWAY_MAX_FAILS && !bDown(); i++) sickPhase.push(await get());
    assert.ok(bDown(), `the live gateway was never marked down:\n${errLog}`);
    sick = false;
    const healthyPhase: number[] = [];
    for (let i = 0; i < 5; i++) healthyPhase.push(await get());
    await stop();
    live.close();
    return { sickPhase, healthyPhase };
  }

  it("reaches the live gateway through the backups (no 502 while it is up)", async () => {
    const r = await scenario((c) => c);
    assert.deepEqual(r.healthyPhase, [200, 200, 200, 200, 200], JSON.stringify(r));
  });

  it("without the backups (the configuration before) nginx answers 502: the case the backups are for", async () => {
    const r = await scenario((c) => c.replace(/^.* backup; #.*\n/gm, ""));
    assert.ok(r.healthyPhase.includes(502), JSON.stringify(r));
  });
});
