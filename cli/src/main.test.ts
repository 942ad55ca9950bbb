import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { main } from "./main.ts";

/** Runs imctl's main() in this process and returns what it printed. */
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

describe("imctl's usage errors", () => {
  it("an invalid choice names the flag, the value and the choices", async () => {
    const r = await run(["rollout", "status", "gateway", "--target", "mainframe"]);
    assert.equal(r.code, 2);
    assert.equal(
      r.err,
      'imctl: --target: got "mainframe"; allowed: local, kubernetes; see imctl rollout status --help\n',
    );
    assert.equal(r.out, "");
  });

  it("a long unknown option is quoted as an excerpt", async () => {
    const r = await run(["doctor", `--${"x".repeat(5000)}`, "--json"]);
    assert.equal(r.code, 2);
    assert.ok(r.err.length < 200, r.err);
    assert.match(r.err, /^imctl: unknown option '--x{78}…'; see imctl doctor --help\n$/);
    assert.deepEqual(JSON.parse(r.out), { error: r.err.slice("imctl: ".length).trimEnd(), exitCode: 2 });
  });

  it("a value out of range is refused before the handler runs, whatever else is given", async () => {
    const r = await run(["drill", "restore", "--budget", "0s", "--yes", "--stack", "/nonexistent/local.yaml"]);
    assert.equal(r.code, 2);
    assert.equal(
      r.err,
      'imctl: --budget: got "0s"; allowed: 1s to 1440m, a number with ms, s, m; see imctl drill restore --help\n',
    );
  });

  it("help is printed to stdout and exits 0", async () => {
    const r = await run(["local", "status", "--help"]);
    assert.equal(r.code, 0);
    assert.match(r.out, /^Usage: imctl local status \[options\]/);
    assert.equal(r.err, "");
  });
});
