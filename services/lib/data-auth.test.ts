import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { toolPath } from "../../base/tools.mjs";
import { portFree } from "../../base/ports.ts";
import { ConfigError, kafkaConfig, loadConfig, redisConfig } from "./config.ts";
import {
  KAFKA_PLAIN_WITHOUT_TLS,
  KAFKA_SASL_MISSING,
  KAFKA_SASL_NO_MECHANISM,
  kafkaSasl,
  REDIS_USERNAME_WITHOUT_PASSWORD,
  redisAuth,
} from "./data-auth.ts";
import { createRedisCluster } from "./redis.ts";

const SECRET = "s3cret-password-never-in-an-error";
const redis = (env: Record<string, string>) => redisAuth(loadConfig(redisConfig, { REDIS_NODES: "r:6379", ...env }));
const kafka = (env: Record<string, string>) => kafkaSasl(loadConfig(kafkaConfig, { KAFKA_BROKERS: "k:9092", ...env }));

/** Runs `f`, expects a ConfigError with `message`, and checks the password is nowhere in it. */
function refuses(f: () => unknown, message: string): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.message, message);
    assert.ok(!err.message.includes(SECRET));
    return true;
  });
}

describe("data-tier credentials from the environment", () => {
  it("leaves Redis and Kafka without authentication when nothing is set (the local target)", () => {
    assert.equal(redis({}), undefined);
    assert.equal(kafka({}), undefined);
  });

  it("reads a Redis password, and an ACL user with it", () => {
    assert.deepEqual(redis({ REDIS_PASSWORD: SECRET }), { password: SECRET });
    assert.deepEqual(redis({ REDIS_PASSWORD: SECRET, REDIS_USERNAME: "im" }), { username: "im", password: SECRET });
  });

  it("refuses a Redis user without a password, and an empty password", () => {
    refuses(() => redis({ REDIS_USERNAME: "im" }), REDIS_USERNAME_WITHOUT_PASSWORD("im"));
    refuses(
      () => redis({ REDIS_PASSWORD: "" }),
      'config: REDIS_PASSWORD: got ""; a non-empty password, or leave it unset',
    );
  });

  it("reads SCRAM credentials for Kafka", () => {
    assert.deepEqual(
      kafka({ KAFKA_SASL_MECHANISM: "SCRAM-SHA-512", KAFKA_SASL_USERNAME: "im", KAFKA_SASL_PASSWORD: SECRET }),
      { mechanism: "SCRAM-SHA-512", username: "im", password: SECRET },
    );
  });

  it("refuses half-set SASL settings with the missing variable, never the password", () => {
    refuses(
      () => kafka({ KAFKA_SASL_MECHANISM: "SCRAM-SHA-256", KAFKA_SASL_PASSWORD: SECRET }),
      KAFKA_SASL_MISSING("KAFKA_SASL_USERNAME", "SCRAM-SHA-256"),
    );
    refuses(
      () => kafka({ KAFKA_SASL_MECHANISM: "SCRAM-SHA-256", KAFKA_SASL_USERNAME: "im" }),
      KAFKA_SASL_MISSING("KAFKA_SASL_PASSWORD", "SCRAM-SHA-256"),
    );
    refuses(() => kafka({ KAFKA_SASL_PASSWORD: SECRET }), KAFKA_SASL_NO_MECHANISM("KAFKA_SASL_PASSWORD"));
    refuses(() => kafka({ KAFKA_SASL_USERNAME: "im" }), KAFKA_SASL_NO_MECHANISM("KAFKA_SASL_USERNAME"));
  });

  it("refuses an unknown mechanism, and PLAIN outside TLS", () => {
    refuses(
      () => kafka({ KAFKA_SASL_MECHANISM: "GSSAPI" }),
      'config: KAFKA_SASL_MECHANISM: got "GSSAPI"; allowed: SCRAM-SHA-512, SCRAM-SHA-256, PLAIN',
    );
    const plain = { KAFKA_SASL_MECHANISM: "PLAIN", KAFKA_SASL_USERNAME: "im", KAFKA_SASL_PASSWORD: SECRET };
    refuses(() => kafka(plain), KAFKA_PLAIN_WITHOUT_TLS);
    assert.equal(kafka({ ...plain, KAFKA_TLS: "true" })?.mechanism, "PLAIN");
  });
});

describe("the Redis client with credentials", () => {
  it("sends AUTH (user and password) to every node it discovers, and none without credentials", () => {
    const withAuth = createRedisCluster(["127.0.0.1:1"], {
      nodeTimeoutMs: 100,
      auth: { username: "im", password: SECRET },
    });
    const without = createRedisCluster(["127.0.0.1:1"], { nodeTimeoutMs: 100 });
    try {
      assert.equal(withAuth.options.redisOptions?.password, SECRET);
      assert.equal(withAuth.options.redisOptions?.username, "im");
      assert.equal(without.options.redisOptions?.password, undefined);
    } finally {
      withAuth.disconnect();
      without.disconnect();
    }
  });
});

/** `p`, or a rejection after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

describe("a Redis Cluster that requires a password (real redis-server, one node)", () => {
  it("takes the client's commands with the password, and refuses them without", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "im-redis-auth-"));
    let port = 29_000 + (process.pid % 2000);
    while (!(await portFree("127.0.0.1", port)) || !(await portFree("127.0.0.1", port + 10_000))) port++;
    const server = spawn(
      toolPath("redis-server"),
      [
        ...["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--dir", dir],
        ...["--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf")],
        // Announce the address, so CLUSTER SLOTS names it (an empty host would leave the client nowhere to go).
        ...["--cluster-announce-ip", "127.0.0.1"],
        ...["--requirepass", SECRET, "--masterauth", SECRET],
      ],
      { stdio: "ignore" },
    );
    const cli = (...args: string[]) =>
      execFileSync(toolPath("redis-cli"), ["-h", "127.0.0.1", "-p", String(port), ...args], {
        encoding: "utf8",
        env: { ...process.env, REDISCLI_AUTH: SECRET },
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
        assert.ok(i < 100, "one-node cluster never became ok");
        await new Promise((r) => setTimeout(r, 100));
      }
      const nodes = [`127.0.0.1:${port}`];
      const authed = createRedisCluster(nodes, { nodeTimeoutMs: 100, auth: redis({ REDIS_PASSWORD: SECRET }) });
      try {
        // Bounded, so a client that never authenticates fails here and the server is still stopped below.
        await within(authed.set("im:auth-test", "ok"), 10_000);
        assert.equal(await within(authed.get("im:auth-test"), 10_000), "ok");
      } finally {
        authed.disconnect();
      }
      // Without the password the server serves nothing (what a client without REDIS_PASSWORD would get).
      const anonymous = execFileSync(
        toolPath("redis-cli"),
        ["-h", "127.0.0.1", "-p", String(port), "GET", "im:auth-test"],
        {
          encoding: "utf8",
          env: { ...process.env, REDISCLI_AUTH: "" },
        },
      );
      assert.match(anonymous, /NOAUTH/);
    } finally {
      server.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
