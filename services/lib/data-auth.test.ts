import assert from "node:assert/strict";
import { describe, it } from "node:test";
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
