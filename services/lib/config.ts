/**
 * Service configuration comes from the environment, validated once at start-up: a bad value stops the process
 * with one line naming the variable, the value and what is allowed.
 */
import { z } from "zod";

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export function loadConfig<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const r = schema.safeParse(env);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const key = String(issue?.path[0] ?? "?");
  const value = env[key];
  throw new ConfigError(
    `config: ${key}: got ${value === undefined ? "nothing" : JSON.stringify(value)}; ${issue?.message ?? "invalid"}`,
  );
}

/** Comma-separated list of host:port (or URLs). */
export const list = z
  .string()
  .min(1, "a comma-separated list")
  .transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  );

export const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** "true" or "false" (environment variables are strings; anything else is refused rather than guessed). */
export const tlsFlag = z
  .enum(["true", "false"], { error: 'allowed: "true" or "false"' })
  .transform((v) => v === "true");

/** Settings every service shares. */
export const baseConfig = z.object({
  SERVICE_VERSION: z.string().min(1).default("dev"),
  INSTANCE_ID: z
    .string()
    .regex(/^[a-z0-9-]{1,63}$/, "lower-case letters, digits and '-'")
    .default("local-1"),
  /**
   * Numeric id of this instance (0-1023) for unique id generation, or "lease" (the default): claim a free one in
   * Redis, as replicas of one Deployment must (they share their environment).
   */
  NODE_ID: z
    .union([z.literal("lease"), intFrom(0, 1023)], { error: 'a whole number from 0 to 1023, or "lease"' })
    .default("lease"),
  HOST: z.string().default("127.0.0.1"),
  PORT: intFrom(1, 65535),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
  /** Shared secret on service-to-service calls: only the platform's own services may call internal routes. */
  INTERNAL_TOKEN: z.string().min(16, "at least 16 characters"),
});

/** The default longest wait for a pooled connection, and for the answer to one statement, ms (DB_TIMEOUT_MS). */
export const DB_TIMEOUT_MS = 5000;
/** The default longest queue of callers waiting for a pooled connection (DB_QUEUE_LIMIT). */
export const DB_QUEUE_LIMIT = 256;

export const dbConfig = z.object({
  DB_HOST: z.string().default("127.0.0.1"),
  DB_PORT: intFrom(1, 65535),
  DB_USER: z.string().min(1),
  DB_PASSWORD: z.string(),
  DB_NAME: z.string().min(1),
  DB_POOL: intFrom(1, 500).default(20),
  /** Longest wait for a pooled connection and for one statement's answer, ms (db.ts). */
  DB_TIMEOUT_MS: intFrom(100, 120000).default(DB_TIMEOUT_MS),
  /** Most callers waiting for a pooled connection; beyond, a retryable `overloaded` (db.ts). */
  DB_QUEUE_LIMIT: intFrom(1, 100000).default(DB_QUEUE_LIMIT),
  /** TLS to the database (TiDB with TLS in the clouds), verified against the system CAs or DB_TLS_CA_FILE. */
  DB_TLS: tlsFlag.default(false),
  DB_TLS_CA_FILE: z.string().min(1).optional(),
});

export const redisConfig = z.object({
  REDIS_NODES: list,
  /** The cluster's cluster-node-timeout, so the client waits out a failover instead of failing. */
  REDIS_NODE_TIMEOUT_MS: intFrom(100, 60000).default(3000),
  /** TLS to Redis (ElastiCache / Tair with transit encryption). */
  REDIS_TLS: tlsFlag.default(false),
  REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  /** AUTH for the data tier's Redis (ElastiCache's auth token, Tair's password, in-cluster requirepass). Unset: none. */
  REDIS_PASSWORD: z.string().min(1, "a non-empty password, or leave it unset").optional(),
  /** An ACL user (Redis 6+ RBAC); unset, AUTH names the default user. Only with REDIS_PASSWORD (data-auth.ts). */
  REDIS_USERNAME: z.string().min(1, "a non-empty user name, or leave it unset").optional(),
});

/** The SASL mechanisms the services' Kafka client (@platformatic/kafka 1.35) speaks and the platform uses. */
export const KAFKA_SASL_MECHANISMS = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

export const kafkaConfig = z.object({
  KAFKA_BROKERS: list,
  KAFKA_TOPIC_STORED: z.string().min(1).default("im.message.stored"),
  /** TLS to the brokers (MSK's TLS listener, Strimzi's tls listener). */
  KAFKA_TLS: tlsFlag.default(false),
  KAFKA_TLS_CA_FILE: z.string().min(1).optional(),
  /** SASL client authentication (MSK SCRAM, ApsaraMQ SASL users, Strimzi SCRAM users); unset: none (data-auth.ts). */
  KAFKA_SASL_MECHANISM: z
    .enum(KAFKA_SASL_MECHANISMS, { error: `allowed: ${KAFKA_SASL_MECHANISMS.join(", ")}` })
    .optional(),
  KAFKA_SASL_USERNAME: z.string().min(1, "a non-empty user name, or leave it unset").optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1, "a non-empty password, or leave it unset").optional(),
});

export const tokenConfig = z.object({
  /** `kid:secret,kid:secret`: every key verifies, the active one signs. */
  TOKEN_KEYS: z.string().min(1),
  TOKEN_ACTIVE_KID: z.string().min(1),
});
