import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createHttp } from "./http.ts";
import { createLogger } from "./log.ts";
import { createMetrics } from "./metrics.ts";
import { TOKEN_IN_URL, TOKEN_IN_URL_PATH } from "./protocol.ts";

describe("createHttp", () => {
  it("answers the edge's token refusal path 400 token_in_url, whatever the method, without echoing the token", async () => {
    const lines: string[] = [];
    const app = createHttp({
      version: "test",
      log: createLogger(
        "test",
        { SERVICE_VERSION: "test", INSTANCE_ID: "test-1", LOG_LEVEL: "debug" },
        {
          write: (s: string) => void lines.push(s),
        },
      ),
      metrics: createMetrics("test", { SERVICE_VERSION: "test", INSTANCE_ID: "test-1" }),
      ready: async () => null,
      internalToken: "internal",
    });
    try {
      for (const method of ["GET", "POST"] as const) {
        const res = await app.inject({ method, url: `${TOKEN_IN_URL_PATH}?token=secret-token-value` });
        assert.equal(res.statusCode, 400, method);
        assert.deepEqual(res.json(), { error: "token_in_url", message: TOKEN_IN_URL });
        assert.ok(!res.body.includes("secret-token-value"));
      }
      assert.equal((await app.inject({ method: "GET", url: "/edge/elsewhere" })).statusCode, 404);
      assert.ok(!lines.join("").includes("secret-token-value"), "nothing logged the token");
    } finally {
      await app.close();
    }
  });
});
