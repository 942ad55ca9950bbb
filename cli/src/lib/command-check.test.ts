import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { buildProgram } from "../cli.ts";
import { REPO_ROOT } from "../../../base/root.mjs";
import { checkCommandLine, commandLines, headingAnchors, npmScripts, parseCommandLine } from "./command-check.ts";

const build = () => buildProgram(() => undefined);
const program = build();

/** The Markdown pages whose commands and links are checked: the README, docs/ and the runbooks. */
function pages(): string[] {
  const md = (dir: string) =>
    readdirSync(join(REPO_ROOT, dir))
      .filter((f) => f.endsWith(".md"))
      .map((f) => join(dir, f));
  return ["README.md", ...md("docs"), ...md("runbooks")];
}

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
      /allowed: a whole number from 1 to 100,000/,
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

  it("every imctl command in the CI workflows, the runbooks, docs/ and the README exists with the flags it uses", async () => {
    const files = [
      ...readdirSync(join(REPO_ROOT, ".github", "workflows")).map((f) => join(".github", "workflows", f)),
      ...pages(),
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
});

describe("npm scripts and links in the README, docs/ and the runbooks", () => {
  it("every npm script the README, docs/, the runbooks and the CI workflows run is in package.json", () => {
    const scripts = Object.keys(
      (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { scripts: object }).scripts,
    );
    assert.deepEqual(npmScripts("`npm start`, npm test, npm run test:unit, npm run bench -- latency; npm install"), [
      "start",
      "test",
      "test:unit",
      "bench",
    ]);
    const files = [
      ...readdirSync(join(REPO_ROOT, ".github", "workflows")).map((f) => join(".github", "workflows", f)),
      ...pages(),
    ];
    let checked = 0;
    for (const f of files) {
      for (const script of npmScripts(readFileSync(join(REPO_ROOT, f), "utf8"))) {
        assert.ok(
          scripts.includes(script),
          `${f}: npm ${script}: no such script (package.json has ${scripts.join(", ")})`,
        );
        checked++;
      }
    }
    assert.ok(checked >= 5, `found only ${checked} npm commands`);
  });

  it("every relative link in the runbooks, docs/ and the README points at a file that exists", () => {
    let links = 0;
    for (const f of pages()) {
      for (const m of readFileSync(join(REPO_ROOT, f), "utf8").matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        const target = m[1] ?? "";
        if (/^[a-z]+:/.test(target)) continue;
        links++;
        assert.ok(existsSync(join(REPO_ROOT, dirname(f), target)), `${f}: link to ${target} leads nowhere`);
      }
    }
    assert.ok(links >= 10, `found only ${links} links`);
  });

  it("every link to a section of a page names a heading of that page", () => {
    assert.deepEqual(
      [
        ...headingAnchors(
          "# A page\n## The local target\n```sh\n# not a heading\n```\n## `imctl drill` (v2)\n## Tools\n## Tools",
        ),
      ],
      ["a-page", "the-local-target", "imctl-drill-v2", "tools", "tools-1"],
    );
    let anchors = 0;
    for (const f of pages()) {
      for (const m of readFileSync(join(REPO_ROOT, f), "utf8").matchAll(/\]\(([^)#\s]*)#([^)\s]+)\)/g)) {
        const target = m[1] === "" ? f : join(dirname(f), m[1] ?? "");
        if (!target.endsWith(".md") || /^[a-z]+:/.test(m[1] ?? "")) continue;
        anchors++;
        const headings = headingAnchors(readFileSync(join(REPO_ROOT, target), "utf8"));
        assert.ok(headings.has(m[2] ?? ""), `${f}: link to ${target}#${m[2]}: no such heading`);
      }
    }
    assert.ok(anchors >= 3, `found only ${anchors} links to sections`);
  });
});
