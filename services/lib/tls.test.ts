import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { toolPath } from "../../base/tools.mjs";
import { portFree } from "../../base/ports.ts";
import { baseConfig, ConfigError, dbConfig, loadConfig } from "./config.ts";
import { createRedisCluster } from "./redis.ts";
import { tlsOptions } from "./tls.ts";

function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost",
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}

describe("TLS to the data tier", () => {
  it("is off unless asked for, verifies certificates when on, and names a bad setting in one line", () => {
    assert.equal(tlsOptions("REDIS", false, undefined), undefined);
    assert.deepEqual(tlsOptions("REDIS", true, undefined), { rejectUnauthorized: true });
    assert.throws(
      () => tlsOptions("KAFKA", true, "/nonexistent/ca.pem"),
      (e: unknown) =>
        e instanceof ConfigError && e.message === 'config: KAFKA_TLS_CA_FILE: got "/nonexistent/ca.pem"; no such file',
    );
    assert.throws(
      () => tlsOptions("DB", false, "/ca.pem"),
      /config: DB_TLS_CA_FILE: got "\/ca.pem"; set only with DB_TLS=true/,
    );
    const schema = baseConfig.extend(dbConfig.shape);
    const env = {
      PORT: "1",
      INTERNAL_TOKEN: "x".repeat(16),
      DB_PORT: "3306",
      DB_USER: "u",
      DB_PASSWORD: "",
      DB_NAME: "im",
    };
    assert.equal(loadConfig(schema, env).DB_TLS, false);
    assert.equal(loadConfig(schema, { ...env, DB_TLS: "true" }).DB_TLS, true);
    assert.throws(
      () => loadConfig(schema, { ...env, DB_TLS: "yes" }),
      /^ConfigError: config: DB_TLS: got "yes"; allowed: "true" or "false"$/,
    );
  });

  it("reaches a Redis Cluster that speaks only TLS, trusting the CA it is given", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "im-redis-tls-"));
    const { cert, key } = selfSigned(dir, "server");
    let port = 27_000 + (process.pid % 2000);
    while (!(await portFree("127.0.0.1", port)) || !(await portFree("127.0.0.1", port + 10_000))) port++;
    // No plain-text port at all: a reply proves the client spoke TLS and verified the server against the CA.
    const server = spawn(
      toolPath("redis-server"),
      [
        "--port",
        "0",
        "--tls-port",
        String(port),
        "--tls-cert-file",
        cert,
        "--tls-key-file",
        key,
        "--tls-ca-cert-file",
        cert,
        "--tls-auth-clients",
        "no",
        "--cluster-enabled",
        "yes",
        "--tls-cluster",
        "yes",
        "--cluster-config-file",
        join(dir, "nodes.conf"),
        "--dir",
        dir,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--cluster-announce-hostname",
        "localhost",
        "--cluster-preferred-endpoint-type",
        "hostname",
      ],
      { stdio: "ignore" },
    );
    const cli = (...args: string[]) =>
      execFileSync(toolPath("redis-cli"), ["--tls", "--cacert", cert, "-h", "127.0.0.1", "-p", String(port), ...args], {
        encoding: "utf8",
      }).trim();
    try {
      for (let i = 0; ; i++) {
        try {
          if (cli("PING") === "PONG") break;
        } catch (err) {
          if (i > 50) throw err;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      cli("CLUSTER", "ADDSLOTSRANGE", "0", "16383");
      for (let i = 0; !cli("CLUSTER", "INFO").includes("cluster_state:ok"); i++) {
        assert.ok(i < 100, "one-node TLS cluster never became ok");
        await new Promise((r) => setTimeout(r, 100));
      }
      const redis = createRedisCluster([`localhost:${port}`], {
        nodeTimeoutMs: 1000,
        tls: tlsOptions("REDIS", true, cert),
      });
      try {
        await redis.set("im:tls-test", "ok");
        assert.equal(await redis.get("im:tls-test"), "ok");
      } finally {
        redis.disconnect();
      }
    } finally {
      server.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
