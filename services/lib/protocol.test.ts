import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { clientFrame } from "./protocol.ts";

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
