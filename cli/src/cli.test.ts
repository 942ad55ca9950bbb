import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Command } from "commander";
import { buildProgram } from "./cli.ts";
import { EXAMPLES_HEADING } from "./commands/command.ts";
import { parseCommandLine, words } from "./lib/command-check.ts";

// parseCommandLine stops every line before its action runs; a sink that throws would show a handler that ran anyway.
const build = () =>
  buildProgram(() => {
    throw new Error("a handler ran while parsing an example");
  });

function everyCommand(c: Command, path: string[] = []): { path: string[]; command: Command }[] {
  return [{ path, command: c }, ...c.commands.flatMap((s) => everyCommand(s, [...path, s.name()]))];
}

/** A command's help as `imctl <path> --help` prints it, including the text added after it. */
function helpOf(c: Command): string {
  let out = "";
  c.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  c.outputHelp();
  return out;
}

/** The example command lines (without `imctl`) under the Examples heading of a help text. */
function examplesIn(help: string): string[] {
  const start = help.indexOf(`\n${EXAMPLES_HEADING}\n`);
  if (start < 0) return [];
  return [...help.slice(start).matchAll(/^ {2}\$ imctl (.+)$/gm)].map((m) => m[1] ?? "");
}

const EXAMPLES = everyCommand(build()).map(({ path, command }) => ({
  path: path.join(" "),
  lines: examplesIn(helpOf(command)),
}));

describe("imctl's command table", () => {
  it("lists the verbs in the order of imctl --help", () => {
    assert.deepEqual(
      build().commands.map((c) => c.name()),
      [
        "local",
        "cluster",
        "loadtest",
        "plan",
        "preview",
        "up",
        "destroy",
        "bandwidth",
        "drill",
        "doctor",
        "rollout",
        "group",
        "tools",
      ],
    );
  });

  it("shows 2 to 4 examples in the help of each main command", () => {
    const main = [
      "local up",
      "local status",
      "cluster up",
      "cluster status",
      "rollout start",
      "rollout status",
      "rollout promote",
      "rollout abort",
      "drill run",
      "drill restore",
      "bandwidth audit",
      "bandwidth plan",
      "bandwidth upgrade",
      "doctor",
      "loadtest run",
      "plan",
      "preview",
      "up",
      "tools install",
      "tools status",
    ];
    for (const path of main) {
      const n = EXAMPLES.find((e) => e.path === path)?.lines.length ?? 0;
      assert.ok(n >= 2 && n <= 4, `imctl ${path} --help shows ${n} examples`);
    }
  });

  it("parses every example in the help through the real command table, without running it", async () => {
    let parsed = 0;
    for (const { path, lines } of EXAMPLES) {
      for (const line of lines) {
        const args = words(line);
        assert.equal(args.slice(0, path.split(" ").length).join(" "), path, `imctl ${path} --help shows: ${line}`);
        assert.equal(await parseCommandLine(build, args), null, `imctl ${path} --help: imctl ${line}`);
        parsed++;
      }
    }
    assert.ok(parsed >= 36, `parsed only ${parsed} examples`);
  });

  it("would catch a stale example: a missing required option, an unknown flag, a bad value", async () => {
    assert.match(
      (await parseCommandLine(build, words("rollout start gateway"))) ?? "",
      /required option '--version <v>' not specified/,
    );
    assert.match((await parseCommandLine(build, words("doctor --max-backlogs 5"))) ?? "", /unknown option/);
    assert.match(
      (await parseCommandLine(build, words("bandwidth audit --target-utilisation 1.5"))) ?? "",
      /allowed: a share from 0.1 to 0.95/,
    );
  });
});
