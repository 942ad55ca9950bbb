import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { issueToken, parseKeyRing, verifyToken } from "./tokens.ts";

const s1 = "a".repeat(32);
const s2 = "b".repeat(32);

describe("tokens", () => {
  it("verify with the key that signed them and carry the user id", () => {
    const ring = parseKeyRing(`k1:${s1}`, "k1");
    const { token } = issueToken(ring, "42", 60);
    assert.equal(verifyToken(ring, token).sub, "42");
  });

  it("survive a key rotation: a new key signs, the old one still verifies", () => {
    const before = parseKeyRing(`k1:${s1}`, "k1");
    const old = issueToken(before, "7", 3600).token;
    const rotated = parseKeyRing(`k1:${s1},k2:${s2}`, "k2");
    const fresh = issueToken(rotated, "7", 3600).token;
    assert.match(fresh, /^v1\.k2\./);
    assert.equal(verifyToken(rotated, old).sub, "7");
    assert.equal(verifyToken(rotated, fresh).sub, "7");
    // Once the old key is dropped, its tokens stop verifying.
    assert.throws(() => verifyToken(parseKeyRing(`k2:${s2}`, "k2"), old), { code: "unauthorized" });
  });

  it("reject tampering, expiry and garbage with distinct codes", () => {
    const ring = parseKeyRing(`k1:${s1}`, "k1");
    const { token } = issueToken(ring, "1", 60);
    const parts = token.split(".");
    const forged = [
      parts[0],
      parts[1],
      Buffer.from(JSON.stringify({ sub: "2", iat: 0, exp: 9e9 })).toString("base64url"),
      parts[3],
    ].join(".");
    assert.throws(() => verifyToken(ring, forged), { code: "unauthorized", message: "bad token signature" });
    assert.throws(() => verifyToken(ring, issueToken(ring, "1", 60, Date.now() - 120_000).token), {
      code: "token_expired",
    });
    for (const bad of ["", "x", "v1.k1.a", "v2.k1.a.b", "v1.nokey.a.b"])
      assert.throws(() => verifyToken(ring, bad), { code: "unauthorized" });
  });

  it("refuse a ring whose active key is missing or whose secret is short", () => {
    assert.throws(() => parseKeyRing(`k1:${s1}`, "k9"), /TOKEN_ACTIVE_KID: got "k9"/);
    assert.throws(() => parseKeyRing("k1:short", "k1"), /at least 32 characters/);
  });
});
