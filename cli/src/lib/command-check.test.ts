import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { buildProgram } from "../cli.ts";
import { REPO_ROOT } from "../../../base/root.mjs";
import { checkCommandLine, commandLines, parseCommandLine } from "./command-check.ts";

const build = () => buildProgram(() => undefined);
const program = build();

describe("imctl command lines in docs and CI", () => {
  it("knows good lines from bad ones", () => {
    assert.equal(checkCommandLine(program, ["local", "up", "--stack", "local"]), null);
    assert.equal(checkCommandLine(program, ["loadtest", "run", "smoke", "--vus", "4", "--json"]), null);
    assert.match(checkCommandLine(program, ["local", "upp"]) ?? "", /"upp" is not a command of "local"/);
    assert.match(checkCommandLine(program, ["local", "up", "--force"]) ?? "", /"--force" is not an option of "up"/);
    assert.match(checkCommandLine(program, ["local"]) ?? "", /needs a subcommand/);
  });

  it("parses lines as imctl would, catching bad values, missing arguments and required options", async () => {
    assert.equal(await parseCommandLine(build, ["local", "logs", "kafka-1", "-n", "500"]), null);
    assert.equal(await parseCommandLine(build, ["doctor", "--json"]), null);
    assert.match((await parseCommandLine(build, ["local", "logs"])) ?? "", /missing required argument 'component'/);
    assert.match(
      (await parseCommandLine(build, ["local", "logs", "kafka-1", "-n", "many"])) ?? "",
      /allowed: a whole number above 0/,
    );
    assert.match(
      (await parseCommandLine(build, ["plan"])) ?? "",
      /required option '-s, --stack <name\|file>' not specified/,
    );
    assert.match((await parseCommandLine(build, ["local", "status", "extra"])) ?? "", /too many arguments/);
    assert.match((await parseCommandLine(build, ["doctor", "--max-backlog"])) ?? "", /argument missing/);
    assert.match((await parseCommandLine(build, ["local"])) ?? "", /needs a subcommand/);
    assert.deepEqual(commandLines("npx imctl local up   # start or repair"), [["local", "up"]]);
    assert.deepEqual(commandLines('`npx imctl rollout abort gateway --reason "a b"`'), [
      ["rollout", "abort", "gateway", "--reason", "a b"],
    ]);
  });

  it("every imctl command in the CI workflows, the runbooks and the README exists with the flags it uses", async () => {
    const files = [
      ...readdirSync(join(REPO_ROOT, ".github", "workflows")).map((f) => join(".github", "workflows", f)),
      ...readdirSync(join(REPO_ROOT, "runbooks")).map((f) => join("runbooks", f)),
      "README.md",
    ];
    let checked = 0;
    for (const f of files) {
      for (const line of commandLines(readFileSync(join(REPO_ROOT, f), "utf8"))) {
        const why = checkCommandLine(program, line) ?? (await parseCommandLine(build, line));
        assert.equal(why, null, `${f}: imctl ${line.join(" ")}: ${why}`);
        checked++;
      }
    }
    assert.ok(checked >= 15, `found only ${checked} command lines`);
  });

  it("every relative link in the runbooks and the README points at a file that exists", () => {
    const files = [
      ...readdirSync(join(REPO_ROOT, "runbooks"))
        .filter((f) => f.endsWith(".md"))
        .map((f) => join("runbooks", f)),
      "README.md",
    ];
    let links = 0;
    for (const f of files) {
      for (const m of readFileSync(join(REPO_ROOT, f), "utf8").matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        const target = m[1] ?? "";
        if (/^[a-z]+:/.test(target)) continue;
        links++;
        assert.ok(existsSync(join(REPO_ROOT, dirname(f), target)), `${f}: link to ${target} leads nowhere`);
      }
    }
    assert.ok(links >= 10, `found only ${links} links`);
  });
});
