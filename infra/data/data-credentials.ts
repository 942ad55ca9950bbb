/**
 * The data tier's credentials on a cloud stack: the Redis AUTH password (ElastiCache's auth token, Tair's password,
 * in-cluster `requirepass`) and the services' Kafka SASL user (MSK SCRAM, ApsaraMQ SASL user, Strimzi KafkaUser),
 * derived from the stack's secret seed (infra/lib/derived-secrets.ts) as the other generated secrets are, so no
 * random provider is needed and a second `up` changes nothing. Every value is a Pulumi secret; the services read
 * them from the Secret `DATA_AUTH_SECRET` in their namespace (ImServices), never from a ConfigMap or the stack file.
 */
import * as pulumi from "@pulumi/pulumi";
import {
  DATA_KAFKA_USER,
  dataTierSecretValues,
  MIN_SEED_LENGTH,
  SECRET_SEED_CONFIG_KEY,
  SEED_TOO_SHORT,
  SeedError,
} from "../lib/derived-secrets.ts";

/** The Secret (in the services' namespace, and in the data namespace for in-cluster Redis and Strimzi). */
export const DATA_AUTH_SECRET = "im-data-auth";
/** Its keys, as the services' environment names them (services/lib/config.ts). */
export const REDIS_PASSWORD_KEY = "REDIS_PASSWORD";
export const KAFKA_USERNAME_KEY = "KAFKA_SASL_USERNAME";
export const KAFKA_PASSWORD_KEY = "KAFKA_SASL_PASSWORD";

export interface DataCredentials {
  redisPassword: pulumi.Output<string>;
  kafka: { username: string; password: pulumi.Output<string> };
}

/**
 * The credentials from the seed, else from the config secret `secretSeed` (a real run fails without either); a plain
 * string too short is refused at once, an Output when it resolves.
 */
export function dataCredentials(given: pulumi.Input<string> | undefined): DataCredentials {
  const seed = given ?? new pulumi.Config().requireSecret(SECRET_SEED_CONFIG_KEY);
  if (typeof seed === "string" && seed.length < MIN_SEED_LENGTH) throw new SeedError(SEED_TOO_SHORT(seed.length));
  const values = pulumi.output(seed).apply((s) => {
    if (s.length < MIN_SEED_LENGTH) throw new SeedError(SEED_TOO_SHORT(s.length));
    return dataTierSecretValues(s);
  });
  return {
    redisPassword: pulumi.secret(values.apply((v) => v.redisPassword)),
    kafka: { username: DATA_KAFKA_USER, password: pulumi.secret(values.apply((v) => v.kafkaPassword)) },
  };
}
