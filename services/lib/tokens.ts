/**
 * Signed access tokens with key rotation. A token is `v1.<kid>.<payload>.<signature>` (base64url), signed with
 * HMAC-SHA256 by the active key. Every key in the ring verifies, so a rotation is: add the new key everywhere,
 * make it active, and drop the old one once the last token it signed has expired.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { ApiError } from "./errors.ts";

export interface TokenClaims {
  /** User id. */
  sub: string;
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Expires at, seconds since the epoch. */
  exp: number;
}

export interface KeyRing {
  activeKid: string;
  keys: Map<string, Buffer>;
}

/** Parses `kid1:secret1,kid2:secret2`; the active kid must be among them. */
export function parseKeyRing(spec: string, activeKid: string): KeyRing {
  const keys = new Map<string, Buffer>();
  for (const part of spec
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const i = part.indexOf(":");
    const kid = part.slice(0, i);
    const secret = part.slice(i + 1);
    if (i <= 0 || !/^[A-Za-z0-9_-]{1,32}$/.test(kid) || secret.length < 32) {
      throw new Error(
        `TOKEN_KEYS: each key is kid:secret with a kid of letters, digits, '_' or '-' and a secret of at least 32 characters`,
      );
    }
    keys.set(kid, Buffer.from(secret));
  }
  if (!keys.has(activeKid))
    throw new Error(
      `TOKEN_ACTIVE_KID: got ${JSON.stringify(activeKid)}; allowed: one of the kids in TOKEN_KEYS (${[...keys.keys()].join(", ")})`,
    );
  return { activeKid, keys };
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString("base64url");

function sign(key: Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

export function issueToken(
  ring: KeyRing,
  userId: string,
  ttlSeconds: number,
  now = Date.now(),
): { token: string; expiresAt: number } {
  const iat = Math.floor(now / 1000);
  const claims: TokenClaims = { sub: userId, iat, exp: iat + ttlSeconds };
  const head = `v1.${ring.activeKid}.${b64(JSON.stringify(claims))}`;
  const key = ring.keys.get(ring.activeKid);
  if (!key) throw new Error("active key missing from the ring");
  return { token: `${head}.${b64(sign(key, head))}`, expiresAt: claims.exp };
}

/** Returns the claims of a valid token; throws ApiError unauthorized / token_expired otherwise. */
export function verifyToken(ring: KeyRing, token: string, now = Date.now()): TokenClaims {
  const parts = token.split(".");
  if (parts.length !== 4 || parts[0] !== "v1") throw new ApiError("unauthorized", "malformed token");
  const [, kid = "", payload = "", sig = ""] = parts;
  const key = ring.keys.get(kid);
  if (!key) throw new ApiError("unauthorized", "token signed by an unknown key");
  const expected = sign(key, `v1.${kid}.${payload}`);
  const got = Buffer.from(sig, "base64url");
  if (got.length !== expected.length || !timingSafeEqual(got, expected))
    throw new ApiError("unauthorized", "bad token signature");
  let claims: TokenClaims;
  try {
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as TokenClaims;
  } catch {
    throw new ApiError("unauthorized", "malformed token");
  }
  if (typeof claims.sub !== "string" || typeof claims.exp !== "number")
    throw new ApiError("unauthorized", "malformed token");
  if (claims.exp * 1000 <= now) throw new ApiError("token_expired", "token expired");
  return claims;
}
