import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger, redactCredentials, redactingStream, REDACTED } from "./log.ts";
import { issueToken, parseKeyRing } from "./tokens.ts";

const ring = parseKeyRing(`k1:${"s".repeat(40)}`, "k1");
const token = issueToken(ring, "42", 600).token;

function capture(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const cfg = { SERVICE_VERSION: "t", INSTANCE_ID: "i", LOG_LEVEL: "info" };
  return { lines, log: createLogger("test", cfg, redactingStream({ write: (s: string) => lines.push(s) })) };
}

describe("log redaction", () => {
  it("scrubs session tokens, the token subprotocol, bearer credentials and token query parameters", () => {
    const line = redactCredentials(
      `GET /ws?token=${token}&x=1 Bearer ${token} im.token.${token}, im.v1 raw ${token} end`,
    );
    assert.ok(!line.includes(token.split(".")[3] ?? "?"), line);
    assert.ok(!line.includes(token.split(".")[2] ?? "?"), line);
    assert.match(line, /\?token=\[redacted\]&x=1/);
    assert.match(line, /im\.v1 raw \[redacted\] end$/);
  });

  it("leaves ordinary lines alone (ids, versions, urls)", () => {
    const s = "user 1234567890 v1.2.3 at http://127.0.0.1:8080/readyz?x=1 took 12 ms";
    assert.equal(redactCredentials(s), s);
  });

  it("keeps every credential out of the lines a logger writes: fields, messages, errors", () => {
    const { lines, log } = capture();
    log.info({ token, req: { headers: { authorization: `Bearer ${token}` } }, internalToken: "abc" }, "fields");
    log.warn({ url: `/ws?token=${token}` }, `message with ${token}`);
    log.error({ err: new Error(`upstream refused im.token.${token}`) }, "error");
    const all = lines.join("");
    assert.equal(lines.length, 3);
    for (const part of token.split(".").slice(2)) assert.ok(!all.includes(part), all);
    assert.ok(!all.includes('"abc"'), all);
    assert.ok(all.includes(REDACTED));
    // Still JSON, one object per line.
    for (const l of lines) assert.equal(typeof JSON.parse(l), "object");
  });
});
