import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { withoutCredentials } from "./credentials.ts";

describe("withoutCredentials", () => {
  it("masks the user and password of every URL in a text, keeping host, port and path", () => {
    assert.equal(
      withoutCredentials('Prometheus at http://ops:s3cret@10.0.0.5:9090/prom: "up" failed; see https://a:b@x.io/y'),
      'Prometheus at http://***@10.0.0.5:9090/prom: "up" failed; see https://***@x.io/y',
    );
    assert.equal(withoutCredentials("http://only-user@h"), "http://***@h");
    assert.equal(withoutCredentials('{"url":"https://u:p%40ss@h:1"}'), '{"url":"https://***@h:1"}');
  });

  it("leaves URLs without credentials and mail addresses alone", () => {
    const text = "http://127.0.0.1:9090/api/v1/query?q=a@b answered; mail ops@example.com";
    assert.equal(withoutCredentials(text), text);
  });
});
