/**
 * Credentials for the data tier's Redis and Kafka, from the environment (the Kubernetes Secret im-data-auth, as
 * `secretKeyRef`s). Both are optional: the local target runs Redis and Kafka without authentication. A half-set pair
 * stops the service at start-up with one line naming the variable; a password is never part of that line.
 */
import { ConfigError, type KafkaSaslMechanism } from "./config.ts";

export interface RedisAuthEnv {
  REDIS_PASSWORD?: string | undefined;
  REDIS_USERNAME?: string | undefined;
}

export interface KafkaSaslEnv {
  KAFKA_TLS?: boolean | undefined;
  KAFKA_SASL_MECHANISM?: KafkaSaslMechanism | undefined;
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD?: string | undefined;
}

/** What ioredis's `redisOptions` takes for AUTH. */
export interface RedisAuth {
  username?: string;
  password: string;
}

/** What @platformatic/kafka's `sasl` option takes (its SASLOptions, restricted to user/password mechanisms). */
export interface KafkaSasl {
  mechanism: KafkaSaslMechanism;
  username: string;
  password: string;
}

export const REDIS_USERNAME_WITHOUT_PASSWORD = (user: string) =>
  `config: REDIS_USERNAME: got ${JSON.stringify(user)}; set only with REDIS_PASSWORD`;
export const KAFKA_SASL_MISSING = (name: "KAFKA_SASL_USERNAME" | "KAFKA_SASL_PASSWORD", mechanism: string) =>
  `config: ${name}: got nothing; required with KAFKA_SASL_MECHANISM=${mechanism}`;
export const KAFKA_SASL_NO_MECHANISM = (set: string) =>
  `config: KAFKA_SASL_MECHANISM: got nothing; required with ${set} (SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN)`;
export const KAFKA_PLAIN_WITHOUT_TLS =
  'config: KAFKA_SASL_MECHANISM: got "PLAIN"; PLAIN sends the password in clear: only with KAFKA_TLS=true ' +
  "(or use SCRAM-SHA-512 / SCRAM-SHA-256)";

/** The AUTH credentials, or undefined when Redis has none. */
export function redisAuth(env: RedisAuthEnv): RedisAuth | undefined {
  const { REDIS_PASSWORD: password, REDIS_USERNAME: username } = env;
  if (password === undefined) {
    if (username !== undefined) throw new ConfigError(REDIS_USERNAME_WITHOUT_PASSWORD(username));
    return undefined;
  }
  return username === undefined ? { password } : { username, password };
}

/** The SASL settings, or undefined when the brokers take unauthenticated clients. */
export function kafkaSasl(env: KafkaSaslEnv): KafkaSasl | undefined {
  const { KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password } = env;
  if (mechanism === undefined) {
    if (username !== undefined) throw new ConfigError(KAFKA_SASL_NO_MECHANISM("KAFKA_SASL_USERNAME"));
    if (password !== undefined) throw new ConfigError(KAFKA_SASL_NO_MECHANISM("KAFKA_SASL_PASSWORD"));
    return undefined;
  }
  if (username === undefined) throw new ConfigError(KAFKA_SASL_MISSING("KAFKA_SASL_USERNAME", mechanism));
  if (password === undefined) throw new ConfigError(KAFKA_SASL_MISSING("KAFKA_SASL_PASSWORD", mechanism));
  // SCRAM never sends the password; PLAIN does, so only inside TLS.
  if (mechanism === "PLAIN" && env.KAFKA_TLS !== true) throw new ConfigError(KAFKA_PLAIN_WITHOUT_TLS);
  return { mechanism, username, password };
}
