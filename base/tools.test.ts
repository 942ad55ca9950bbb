import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TOOLS, toolsFor } from "./tools.mjs";

describe("the tool registry", () => {
  it("leaves the test-only tools out of the local profile", () => {
    const local = toolsFor("local").map((t) => t.name);
    assert.ok(!local.includes("kube-apiserver") && !local.includes("etcd"));
    assert.ok(["redis-server", "nginx", "k6", "kafka"].every((n) => local.includes(n)));
    assert.deepEqual(
      TOOLS.filter((t) => t.need === "test").map((t) => t.name),
      ["etcd", "kube-apiserver"],
    );
    assert.equal(toolsFor("all").length, TOOLS.length);
  });
});
