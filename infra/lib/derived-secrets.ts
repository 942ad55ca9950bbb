/**
 * Secrets derived from one seed: HMAC-SHA256(seed, name), base64url. The program needs several random-looking values
 * (the services' internal token and token signing key, Grafana's admin password, the database user's password) and
 * cannot count on the random provider being installed; deriving each from the seed and its own name makes every run
 * produce the same values (a second `up` changes nothing), different names give unrelated values, and rotating the
 * seed rotates them all. The seed itself is a Pulumi config secret (or the caller's), never in the stack file.
 * Pure: no Pulumi import.
 */
import { createHmac } from "node:crypto";

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
