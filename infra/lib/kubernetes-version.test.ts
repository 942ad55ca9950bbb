import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { newestPatch, unofferedVersion } from "./kubernetes-version.ts";

describe("ACK versions", () => {
  const offered = ["1.30.7-aliyun.1", "1.31.1-aliyun.1", "1.31.9-aliyun.1", "1.31.9-aliyun.2", "1.32.1-aliyun.1"];

  it("takes the newest offered patch (and build) of the stack's minor", () => {
    assert.equal(newestPatch("1.31", offered), "1.31.9-aliyun.2");
    assert.equal(newestPatch("1.30", offered), "1.30.7-aliyun.1");
    assert.equal(newestPatch("1.3", offered), undefined, "1.3 is not 1.30 or 1.31");
    assert.equal(newestPatch("1.29", offered), undefined);
  });

  it("names the field, the value and the minors on offer", () => {
    assert.equal(
      unofferedVersion("clouds.alicloud.cluster.version", "1.29", offered),
      'clouds.alicloud.cluster.version: got "1.29"; ACK offers 1.30, 1.31, 1.32 in this region',
    );
  });
});
