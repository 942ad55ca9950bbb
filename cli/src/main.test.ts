import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Command } from "commander";
import { execa } from "execa";
import { REPO_ROOT } from "../../base/root.mjs";
import { EXIT, ExitError, InternalError, UserError } from "./errors.ts";
import { INTERNAL_ERROR, main } from "./main.ts";
import { tempDir } from "../../test/helpers/temp-dir.ts";

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

/** A command table of one command, `fail`, whose handler throws `error`: the error paths no valid input reaches. */
function throwing(error: unknown) {
  return () => {
    const program = new Command("imctl").option("--json").exitOverride();
    program.command("fail").action(() => {
      throw error;
    });
    return program;
  };
}

async function runWith(error: unknown, argv = ["fail"]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) }, throwing(error));
  return { code, out, err };
}

describe("imctl's exit codes", () => {
  it("an unexpected error is EX_SOFTWARE (70) in one line naming it internal, never 1 (a command's bad verdict)", async () => {
    const r = await runWith(new TypeError("Cannot read properties of null (reading 'x')"));
    assert.equal(r.code, EXIT.software);
    assert.equal(r.code, 70);
    assert.equal(r.err, `imctl: ${INTERNAL_ERROR}: TypeError: Cannot read properties of null (reading 'x')\n`);
    const thrown = await runWith("not even an Error", ["fail", "--json"]);
    assert.deepEqual(JSON.parse(thrown.out), { error: `${INTERNAL_ERROR}: Error: not even an Error`, exitCode: 70 });
  });

  it("InternalError is 70, UserError 2, ExitError its own code", async () => {
    assert.deepEqual(await runWith(new InternalError("no canary of gateway to weight")), {
      code: 70,
      out: "",
      err: `imctl: ${INTERNAL_ERROR}: no canary of gateway to weight\n`,
    });
    assert.equal((await runWith(new UserError("--x: got 1; allowed: 2"))).code, 2);
    assert.equal((await runWith(new ExitError("no pulumi", EXIT.unavailable))).code, 69);
  });

  it("a state file damaged by hand ends in 70 from the command line, one line, JSON under --json", async () => {
    const dir = tempDir("exit");
    const stack = join(REPO_ROOT, "stacks", "local.yaml");
    writeFileSync(join(dir, "state.json"), JSON.stringify({ version: 1, stack, components: null }));
    const r = await execa(process.execPath, [join(REPO_ROOT, "cli", "bin", "imctl.mjs"), "local", "status", "--json"], {
      reject: false,
      env: { IMCTL_STATE_DIR: dir },
    });
    assert.equal(r.exitCode, 70, r.stderr);
    assert.match(r.stderr, /^imctl: internal error: TypeError: [^\n]*$/);
    assert.equal(JSON.parse(r.stdout).exitCode, 70);
  });

  it("docs/troubleshooting.md lists exactly the codes imctl exits with", () => {
    const doc = readFileSync(join(REPO_ROOT, "docs", "troubleshooting.md"), "utf8");
    const table = doc.slice(doc.indexOf("## Exit codes"));
    const documented = [...table.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    assert.deepEqual(
      documented,
      Object.values(EXIT).sort((a, b) => a - b),
    );
  });
});

describe("imctl's output never holds a password of a URL", () => {
  const url = "https://ops:s3cret@prometheus.example.com:9090";

  it("an error quoting a stack's Prometheus URL prints it as ***, on stderr and in --json", async () => {
    const r = await runWith(new UserError(`Prometheus at ${url}: "up" failed: timeout`), ["fail", "--json"]);
    assert.equal(r.code, 2);
    assert.equal(r.err, 'imctl: Prometheus at https://***@prometheus.example.com:9090: "up" failed: timeout\n');
    assert.deepEqual(JSON.parse(r.out), { error: r.err.slice("imctl: ".length).trimEnd(), exitCode: 2 });
    assert.ok(!`${r.out}${r.err}`.includes("s3cret"));
  });

  it("a command's result (text and --json) prints it as ***", async () => {
    for (const json of [false, true]) {
      let out = "";
      const code = await main(
        json ? ["show", "--json"] : ["show"],
        { out: (t) => void (out += t), err: () => undefined },
        (sink) => {
          const program = new Command("imctl").option("--json").exitOverride();
          program
            .command("show")
            .option("--json")
            .action(() => sink({ data: { prometheus: url }, text: `metrics from ${url}`, exitCode: 0 }));
          return program;
        },
      );
      assert.equal(code, 0);
      assert.ok(!out.includes("s3cret"), out);
      assert.match(out, json ? /"prometheus": "https:\/\/\*\*\*@prometheus/ : /^metrics from https:\/\/\*\*\*@prom/);
    }
  });
});
