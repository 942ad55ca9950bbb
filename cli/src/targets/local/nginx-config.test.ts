import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { execa } from "execa";
import { toolPath } from "../../../../base/tools.mjs";
import { tempDir } from "../../../../test/helpers/imctl.ts";
import {
  GATEWAY_FAIL_TIMEOUT_S,
  GATEWAY_MAX_FAILS,
  renderNginxConf,
  serverWeights,
  type GatewayPool,
} from "./nginx-config.ts";

const b = (id: string, port: number) => ({ id, address: `127.0.0.1:${port}` });
const share = (pool: GatewayPool, side: "stable" | "canary") => {
  const ws = serverWeights(pool);
  const total = ws.reduce((s, x) => s + x.weight, 0);
  const ids = new Set(pool[side].map((x) => x.id));
  return (100 * ws.filter((x) => ids.has(x.backend.id)).reduce((s, x) => s + x.weight, 0)) / total;
};

describe("gateway pool weights", () => {
  it("gives the canary side exactly its weight for every instance count and weight", () => {
    for (let s = 1; s <= 6; s++) {
      for (let c = 1; c <= 4; c++) {
        for (let w = 1; w <= 99; w++) {
          const pool = {
            stable: Array.from({ length: s }, (_, i) => b(`s${i}`, 1000 + i)),
            canary: Array.from({ length: c }, (_, i) => b(`c${i}`, 2000 + i)),
            canaryWeight: w,
          };
          assert.ok(Math.abs(share(pool, "canary") - w) < 1e-9, `s=${s} c=${c} w=${w}`);
          assert.ok(serverWeights(pool).every((x) => Number.isInteger(x.weight) && x.weight >= 1));
        }
      }
    }
  });

  it("leaves a side with no share out of the upstream", () => {
    assert.deepEqual(
      serverWeights({ stable: [b("s", 1)], canary: [b("c", 2)], canaryWeight: 0 }).map((x) => x.backend.id),
      ["s"],
    );
    assert.deepEqual(
      serverWeights({ stable: [b("s", 1)], canary: [b("c", 2)], canaryWeight: 100 }).map((x) => x.backend.id),
      ["c"],
    );
    assert.deepEqual(serverWeights({ stable: [], canary: [], canaryWeight: 0 }), []);
  });

  it("rejects a weight outside 0 to 100 with the allowed range", () => {
    assert.throws(() => serverWeights({ stable: [b("s", 1)], canary: [], canaryWeight: 130 }), {
      name: "UserError",
      message: "canaryWeight: got 130; allowed: a whole number from 0 to 100",
    });
    assert.throws(
      () => serverWeights({ stable: [b("s", 1)], canary: [], canaryWeight: 12.5 }),
      /allowed: a whole number from 0 to 100/,
    );
  });
});

describe("nginx configuration", () => {
  const settings = (prefix: string) => ({
    prefix,
    host: "127.0.0.1",
    listenPort: 18980,
    statusPort: 18981,
    workerProcesses: 2,
    workerConnections: 9000,
    workerShutdownTimeoutSeconds: 600,
    runAsRoot: process.getuid?.() === 0,
  });

  it("keeps descriptors per worker under the 20,000 per-process limit", () => {
    const conf = renderNginxConf(settings("/x"), { stable: [], canary: [], canaryWeight: 0 });
    const rlimit = Number(/worker_rlimit_nofile (\d+);/.exec(conf)?.[1]);
    assert.ok(rlimit > 9000 * 2 && rlimit < 20000, String(rlimit));
  });

  it("weights the account API's upstream when a user-center canary runs (and leaves a side at 0 % out)", () => {
    const api = { stable: [b("user-center-1", 18300)], canary: [b("user-center-canary-1", 18350)], canaryWeight: 25 };
    const conf = renderNginxConf(settings("/x"), { stable: [], canary: [], canaryWeight: 0 }, api);
    assert.match(conf, /server 127\.0\.0\.1:18300 weight=3 max_fails=1 fail_timeout=2s; # user-center-1/);
    assert.match(conf, /server 127\.0\.0\.1:18350 max_fails=1 fail_timeout=2s; # user-center-canary-1/);
    const none = renderNginxConf(
      settings("/x"),
      { stable: [], canary: [], canaryWeight: 0 },
      { ...api, canaryWeight: 0 },
    );
    assert.doesNotMatch(none, /user-center-canary-1/);
    // a plain list stays unweighted, as before
    assert.match(
      renderNginxConf(settings("/x"), { stable: [], canary: [], canaryWeight: 0 }, [b("user-center-1", 18300)]),
      /server 127\.0\.0\.1:18300 max_fails=1/,
    );
  });

  it("lists every gateway once with passive checks and once as a backup that is never marked down", () => {
    const pool = { stable: [b("gateway-1", 18100), b("gateway-2", 18101)], canary: [], canaryWeight: 0 };
    const conf = renderNginxConf(settings("/x"), pool);
    const upstream = /upstream im_gateway \{([^}]*)\}/.exec(conf)?.[1] ?? "";
    for (const [id, port] of [
      ["gateway-1", 18100],
      ["gateway-2", 18101],
    ] as const) {
      assert.match(
        upstream,
        new RegExp(
          `server 127\\.0\\.0\\.1:${port} weight=1 max_fails=${GATEWAY_MAX_FAILS} fail_timeout=${GATEWAY_FAIL_TIMEOUT_S}s; # ${id}\n`,
        ),
      );
      assert.match(upstream, new RegExp(`server 127\\.0\\.0\\.1:${port} max_fails=0 backup; # ${id} `));
    }
    // One try per entry: past both weighted entries and both backups.
    assert.match(conf, /proxy_next_upstream_tries 4;/);
    assert.match(conf, /if \(\$arg_token\) \{[^}]*return 400 '\{"error":"token_in_url"/);
  });

  it("renders configurations that the real nginx accepts, with and without a pool", async () => {
    const nginx = toolPath("nginx");
    for (const pool of [
      { stable: [], canary: [], canaryWeight: 0 },
      {
        stable: [b("gateway-1", 18100), b("gateway-2", 18101)],
        canary: [b("gateway-canary-1", 18150)],
        canaryWeight: 10,
      },
    ]) {
      const prefix = tempDir("nginx");
      for (const d of ["tmp", "logs"]) mkdirSync(join(prefix, d), { recursive: true });
      const conf = join(prefix, "nginx.conf");
      writeFileSync(conf, renderNginxConf(settings(prefix), pool));
      const r = await execa(nginx, ["-t", "-p", `${prefix}/`, "-c", conf], { reject: false });
      assert.equal(r.exitCode, 0, r.stderr);
    }
  });
});
