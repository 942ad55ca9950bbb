import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { durationPattern, parseDuration } from "./duration.ts";

describe("parseDuration", () => {
  it("converts to milliseconds or seconds with the same factors the callers used", () => {
    assert.equal(parseDuration("30s", { to: "ms" }), 30_000);
    assert.equal(parseDuration("1.5m", { to: "ms" }), 90_000);
    assert.equal(parseDuration("2h", { to: "ms" }), 7_200_000);
    assert.equal(parseDuration("500ms", { to: "s" }), 500 * 0.001);
    assert.equal(parseDuration("7d", { units: ["s", "m", "h", "d"], to: "s" }), 604_800);
    assert.equal(parseDuration("0s", { to: "s" }), 0);
  });

  it("accepts only the caller's units and the number-then-unit form", () => {
    assert.equal(parseDuration("7d", { to: "s" }), undefined);
    assert.equal(parseDuration("1h", { units: ["ms", "s", "m"], to: "s" }), undefined);
    for (const bad of ["", "30", "s", "-1s", " 30s", "30 s", "1e3s", ".5s", "30S"])
      assert.equal(parseDuration(bad, { to: "ms" }), undefined, bad);
  });

  it("spells the pattern the schemas used", () => {
    assert.equal(durationPattern().source, String.raw`^(\d+(?:\.\d+)?)(ms|s|m|h)$`);
    assert.equal(durationPattern(["s", "m", "h", "d"]).source, String.raw`^(\d+(?:\.\d+)?)(s|m|h|d)$`);
  });
});
