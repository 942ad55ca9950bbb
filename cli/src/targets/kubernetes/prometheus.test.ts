import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { prometheusAt } from "./prometheus.ts";

/** A Prometheus stand-in that answers only with basic auth ops:s3cret (a real HTTP server, not a mock of fetch). */
let server: ReturnType<typeof createServer>;
let port = 0;
const seen: Array<string | undefined> = [];

before(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push(req.headers.authorization);
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const query = new URLSearchParams(body).get("query");
      if (req.headers.authorization !== `Basic ${Buffer.from("ops:s3cret").toString("base64")}`) {
        res.writeHead(401).end("Unauthorized");
      } else if (query === "rate(up)") {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ status: "error", error: "expected type range vector" }));
      } else {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ status: "success", data: { result: [{ metric: { a: "1" }, value: [0, "2"] }] } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

describe("a stack's Prometheus URL with a user and password", () => {
  it("sends them as basic auth and shows the URL as *** where it is named", async () => {
    const p = prometheusAt({ url: `http://ops:s3cret@127.0.0.1:${port}` });
    assert.equal(p.where, `http://***@127.0.0.1:${port}`);
    assert.deepEqual(await p.query("up"), [{ labels: { a: "1" }, value: 2 }]);
    assert.equal(seen.at(-1), `Basic ${Buffer.from("ops:s3cret").toString("base64")}`);
  });

  it("never quotes the password in an error: a refused query, a wrong password, no answer", async () => {
    const errors: string[] = [];
    const grab = (p: Promise<unknown>) =>
      p.then(
        () => assert.fail("expected an error"),
        (e: Error) => void errors.push(e.message),
      );
    await grab(prometheusAt({ url: `http://ops:s3cret@127.0.0.1:${port}` }).query("rate(up)"));
    await grab(prometheusAt({ url: `http://ops:wr0ng@127.0.0.1:${port}` }).query("up"));
    await grab(prometheusAt({ url: "http://ops:s3cret@127.0.0.1:1" }).query("up"));
    assert.match(
      errors[0] ?? "",
      /^Prometheus at http:\/\/\*\*\*@127\.0\.0\.1:\d+: "rate\(up\)" failed: expected type/,
    );
    assert.match(errors[1] ?? "", /^Prometheus at http:\/\/\*\*\*@127\.0\.0\.1:\d+ answered HTTP 401, not JSON/);
    assert.match(errors[2] ?? "", /^Prometheus at http:\/\/\*\*\*@127\.0\.0\.1:1: fetch failed/);
    for (const e of errors) assert.ok(!e.includes("s3cret") && !e.includes("wr0ng"), e);
  });
});
