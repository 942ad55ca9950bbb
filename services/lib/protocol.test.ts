import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { clientFrame, consecutiveRun, handshakeToken, wsProtocols } from "./protocol.ts";

const send = (cmid: string) => ({ t: "send", rid: "1", cmid, to: { kind: "user", id: "42" }, body: "hi" });

describe("client frames", () => {
  it("accept UUID-like client message ids", () => {
    for (const cmid of ["d9d6b195-a5d7-4058-b6d0-88aa25ddea66", "retry-1", "a", "x".repeat(64), "dev:1@phone_2.b"])
      assert.ok(clientFrame.safeParse(send(cmid)).success, cmid);
  });

  it("reject client message ids the database would fold together (trailing spaces, lone surrogates) and overlong ones", () => {
    for (const cmid of ["padX ", " padX", "sX\ud800", "sX\udfff", "", "x".repeat(65), "tab\t", "é"])
      assert.equal(clientFrame.safeParse(send(cmid)).success, false, JSON.stringify(cmid));
  });
});

describe("the handshake's token", () => {
  it("is read from the im.token. subprotocol, else from Authorization: Bearer", () => {
    assert.equal(handshakeToken({ "sec-websocket-protocol": wsProtocols("v1.k.p.s").join(", ") }), "v1.k.p.s");
    assert.equal(handshakeToken({ "sec-websocket-protocol": "im.v1,im.token.a.b" }), "a.b");
    assert.equal(handshakeToken({ authorization: "Bearer v1.k.p.s" }), "v1.k.p.s");
    assert.equal(handshakeToken({ "sec-websocket-protocol": "im.v1", authorization: "Basic x" }), "");
    assert.equal(handshakeToken({}), "");
  });
});

describe("a push's consecutive run", () => {
  const m = (seq: number) => ({ seq });
  it("is the run ending at seq, each seq once, the newest `max` of it", () => {
    assert.deepEqual(consecutiveRun([m(3), m(1), m(2), m(2)], 3), [m(1), m(2), m(3)]);
    assert.deepEqual(consecutiveRun([m(1), m(3), m(4)], 4), [m(3), m(4)]);
    assert.deepEqual(consecutiveRun([m(1), m(2)], 3), []);
    assert.deepEqual(consecutiveRun([m(1), m(2), m(3)], 3, 2), [m(2), m(3)]);
  });
});
