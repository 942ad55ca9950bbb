/**
 * Secrets derived from one seed: HMAC-SHA256(seed, name), base64url. The program needs several random-looking values
 * (the services' internal token and token signing key, Grafana's admin password, the database user's password) and
 * cannot count on the random provider being installed; deriving each from the seed and its own name makes every run
 * produce the same values (a second `up` changes nothing), different names give unrelated values, and rotating the
 * seed rotates them all. The seed itself is a Pulumi config secret (or the caller's), never in the stack file.
 * Pure: no Pulumi import.
 */
import { createHmac } from "node:crypto";

/** The Pulumi config key of the seed (project im-platform): `pulumi config set --secret secretSeed ...`. */
export const SECRET_SEED_CONFIG_KEY = "secretSeed";

/** Shortest seed accepted: 128 bits of a random hex string. */
export const MIN_SEED_LENGTH = 32;

/** The seed is unusable: `message` names what is allowed. */
export class SeedError extends Error {
  override readonly name = "SeedError";
}

export const SEED_TOO_SHORT = (length: number) =>
  `secretSeed: got ${length} characters; at least ${MIN_SEED_LENGTH} are needed (e.g. openssl rand -hex 32)`;

/** The value for `name`: 43 characters of base64url (256 bits). */
export function deriveSecret(seed: string, name: string): string {
  if (seed.length < MIN_SEED_LENGTH) throw new SeedError(SEED_TOO_SHORT(seed.length));
  return createHmac("sha256", seed).update(name).digest("base64url");
}

/** The keys of the Secret im-platform-secrets, as the services read them (services/lib/config.ts, tokens.ts). */
export interface PlatformSecretValues {
  INTERNAL_TOKEN: string;
  /** `kid:secret` pairs; the secret is at least 32 characters. */
  TOKEN_KEYS: string;
  TOKEN_ACTIVE_KID: string;
}

/** The token key id the derived signing key carries; a new seed keeps the id but changes the key. */
export const DERIVED_TOKEN_KID = "k1";

/** Every value the program generates, by the Secret and key it lands in. */
export function platformSecretValues(seed: string): {
  platform: PlatformSecretValues;
  grafanaAdminPassword: string;
  databasePassword: string;
  /** TiDB's root password, when an existing cluster's stack runs TiDB in the cluster. */
  tidbRootPassword: string;
} {
  return {
    platform: {
      INTERNAL_TOKEN: deriveSecret(seed, "im-platform-secrets/INTERNAL_TOKEN"),
      TOKEN_KEYS: `${DERIVED_TOKEN_KID}:${deriveSecret(seed, `im-platform-secrets/TOKEN_KEYS/${DERIVED_TOKEN_KID}`)}`,
      TOKEN_ACTIVE_KID: DERIVED_TOKEN_KID,
    },
    grafanaAdminPassword: deriveSecret(seed, "im-grafana-admin/admin-password"),
    databasePassword: deriveSecret(seed, "im-database/DB_PASSWORD"),
    tidbRootPassword: deriveSecret(seed, "im-tidb-root/root"),
  };
}

/** The Kafka user the services authenticate as (MSK SCRAM secret, ApsaraMQ SASL user, Strimzi KafkaUser). */
export const DATA_KAFKA_USER = "im-services";

/**
 * A derived value shaped to the strictest password rules among the data services: Tair takes 8-32 characters with
 * three of upper case, lower case, digits and `!@#$%^&*()_+-=`; ElastiCache's auth token 16-128 printable characters
 * without `/`, `"` or `@`; an ApsaraMQ SASL user's password 1-64 letters, digits or `_`. "Im1_" supplies the three
 * classes, then 24 characters (144 bits) of the derived value with base64url's `-` turned into `_`: 28 characters.
 */
export function dataServicePassword(seed: string, name: string): string {
  return `Im1_${deriveSecret(seed, name).slice(0, 24).replaceAll("-", "_")}`;
}

/** The data tier's credentials: the Redis AUTH password and the services' Kafka SASL password. */
export function dataTierSecretValues(seed: string): { redisPassword: string; kafkaPassword: string } {
  return {
    redisPassword: dataServicePassword(seed, "im-data-auth/REDIS_PASSWORD"),
    kafkaPassword: dataServicePassword(seed, "im-data-auth/KAFKA_SASL_PASSWORD"),
  };
}
