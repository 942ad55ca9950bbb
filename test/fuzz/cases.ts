/**
 * The fuzz cases of issue 24: seeded command lines over imctl's real command table, and stack files generated from
 * the real stacks by mutating them against the schema. Every refused case carries exactly one fault the generator
 * knows is a fault (a flag value its own parser rejects, a stack that loadSpec rejects, an unknown option, a missing
 * argument, a hostile input file...), on top of a command line taken from the command's own help examples; the few
 * accepted cases (help, list) change nothing. So the expected verdict of each case is known: exit 2, or exit 0.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command, Option } from "commander";
import { parse, stringify } from "yaml";
import { REPO_ROOT } from "../../base/root.mjs";
import type { Rng } from "../../base/prng.ts";
import { loadSpec, SpecError } from "../../infra/lib/spec.ts";
import { EXAMPLES_HEADING } from "../../cli/src/commands/command.ts";
import { words } from "../../cli/src/lib/command-check.ts";

export interface FuzzCase {
  /** What the case is, for a failure message: the fault and its detail. */
  fault: string;
  argv: string[];
  /** 0 for the accepted cases (help, list), 2 for every refused one. */
  expect: 0 | 2;
}

interface Leaf {
  path: string[];
  command: Command;
  /** Example lines of its help (argv without "imctl"); a line built from its arguments when it shows none. */
  bases: string[][];
}

/** Every leaf command of the table, with the lines its help shows. */
export function leaves(program: Command): Leaf[] {
  const out: Leaf[] = [];
  const walk = (c: Command, path: string[]) => {
    for (const s of c.commands) {
      const p = [...path, s.name()];
      if (s.commands.length > 0) walk(s, p);
      else out.push({ path: p, command: s, bases: basesOf(s, p) });
    }
  };
  walk(program, []);
  return out;
}

function basesOf(c: Command, path: string[]): string[][] {
  let help = "";
  c.configureOutput({ writeOut: (s) => (help += s), writeErr: (s) => (help += s) });
  c.outputHelp();
  const at = help.indexOf(`\n${EXAMPLES_HEADING}\n`);
  const lines = at < 0 ? [] : [...help.slice(at).matchAll(/^ {2}\$ imctl (.+)$/gm)].map((m) => words(m[1] ?? ""));
  if (lines.length > 0) return lines;
  const args = c.registeredArguments.filter((a) => a.required).map(() => "x");
  const opts = c.options.filter((o) => o.mandatory).flatMap((o) => [o.long ?? "", "x"]);
  return [[...path, ...args, ...opts]];
}

/** Values thrown at a flag's parser; only the ones its parser rejects are used as faults. */
const BAD_VALUES = [
  "-1",
  "0",
  "0s",
  "-5m",
  "1e-300",
  "1e309",
  "99999999999999999999",
  "99999999999999999999m",
  "100000000000",
  "NaN",
  "Infinity",
  "0x1F",
  "",
  " ",
  "abc",
  "5x",
  "1.5.5",
  "101",
  "1e3",
  "25h",
  "91d",
  "10000000",
  "1,000",
  "２０",
  "'; rm -rf / #",
  // Formats: URLs (a scheme not http, credentials, a port past 65535, a path where only an origin goes), names,
  // PromQL, NAME=value pairs.
  "ftp://edge",
  "http://admin:hunter2@edge:9090",
  "http://edge:99999",
  "http://edge/path",
  "im.example.com",
  "IM_Prod",
  "-lead",
  "a..b/C",
  "sum(rate(x[1m])",
  'up{job="a}',
  "lower=1",
  "line\nbreak",
  "$(id)",
  "x".repeat(5000),
];

/** Junk for a positional argument: none is a fault, service, scenario or component name. */
const JUNK = ["nosuch", "../../etc/passwd", "gateway-99", "$(id)", "a b", "x".repeat(3000), "-", "ÿ", "redis-0"];

function valueTakingOptions(c: Command): Option[] {
  return c.options.filter((o) => (o.required || o.optional) && o.long !== undefined);
}

/** A flag value its parser (or its choices) rejects, or undefined when none of BAD_VALUES is rejected. */
function rejectedValue(r: Rng, o: Option): string | undefined {
  const choices = (o as Option & { argChoices?: string[] }).argChoices;
  const parse = (o as Option & { parseArg?: (v: string, prev: unknown) => unknown }).parseArg;
  const candidates = BAD_VALUES.filter((v) => {
    if (choices !== undefined) return !choices.includes(v);
    if (parse === undefined) return false;
    try {
      parse(v, undefined);
      return false;
    } catch {
      return true;
    }
  });
  return candidates.length > 0 ? r.pick(candidates) : undefined;
}

/** Sets `--flag value` in argv (replacing an earlier one). */
function withFlag(argv: string[], flag: string, value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag) {
      i++;
      continue;
    }
    out.push(argv[i] ?? "");
  }
  return [...out, flag, value];
}

/** Writes the hostile files once; each case points a file flag at one of them. */
export function hostileFiles(dir: string): Record<string, string> {
  mkdirSync(dir, { recursive: true });
  const put = (name: string, content: string | Buffer) => {
    const f = join(dir, name);
    writeFileSync(f, content);
    return f;
  };
  const bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < 9; i++)
    bomb.push(
      `a${i}: &a${i} [${Array(9)
        .fill(i === 1 ? "*a" : `*a${i - 1}`)
        .join(", ")}]`,
    );
  const dirAsFile = join(dir, "local-dir.yaml");
  mkdirSync(dirAsFile, { recursive: true });
  return {
    env: put(".env", "DB_PASSWORD=hunter2\nAPI_KEY=sk_live_0123456789\n"),
    pem: put("key.pem", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"),
    bomb: put("bomb.yaml", `${bomb.join("\n")}\n`),
    big: put("big.yaml", `# ${"x".repeat(1024 * 1024 + 10)}\n`),
    binary: put("binary.yaml", Buffer.from([0xff, 0xfe, 0, 1, 2, 3, 0x80, 0x81])),
    deep: put("deep.yaml", `${"[".repeat(20000)}\n`),
    tabs: put("tabs.yaml", "a:\n\t- b\n"),
    dupKeys: put("dup.yaml", "a: 1\na: 2\n"),
    empty: put("empty.yaml", ""),
    missing: join(dir, "does-not-exist.yaml"),
    devZero: "/dev/zero",
    dir: dirAsFile,
  };
}

const STACKS = ["local", "embedded-cluster", "aws-prod", "multicloud"];

/** Values the mutator writes into a stack field. */
function mutantValue(r: Rng): unknown {
  return r.pick<() => unknown>([
    () => r.pick([100_000_000, -1, 0, 1.5, 65536, 1e308, -0, 2 ** 53 + 1, 1023]),
    () => r.pick(["", "x".repeat(r.int(81, 20_000)), "127.300.0.1", "0.0.0.0", "DB_PASSWORD=hunter2", "\u0000", "ÿ"]),
    () => r.pick([null, true, false]),
    () => Array.from({ length: r.int(0, 5000) }, () => r.int(0, 9)),
    () => ({ nested: { deeper: { deepest: "x".repeat(r.int(0, 200)) } } }),
    () => Object.fromEntries(Array.from({ length: r.int(1, 3000) }, (_, i) => [`k${i}`, i])),
  ])();
}

/** A stack file that loadSpec rejects: a real stack with one to three fields broken. Undefined if none came out. */
function mutantStack(r: Rng, dir: string, n: number): string | undefined {
  const name = r.pick(STACKS);
  for (let attempt = 0; attempt < 10; attempt++) {
    const doc = parse(readFileSync(join(REPO_ROOT, "stacks", `${name}.yaml`), "utf8")) as Record<string, unknown>;
    const edits = r.int(1, 3);
    for (let e = 0; e < edits; e++) mutate(r, doc);
    const file = join(dir, `case-${n}-${attempt}`, `${name}.yaml`);
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, stringify(doc, { aliasDuplicateObjects: false }));
    try {
      loadSpec(file);
    } catch (err) {
      if (err instanceof SpecError) return file;
      throw err;
    }
  }
  return undefined;
}

/** One edit at a random depth: replace a value, drop a key, or add an unknown one. */
function mutate(r: Rng, doc: Record<string, unknown>): void {
  let cur: Record<string, unknown> | unknown[] = doc;
  for (let depth = 0; depth < 6; depth++) {
    const keys = Object.keys(cur);
    if (keys.length === 0) break;
    const k = r.pick(keys);
    const v = (cur as Record<string, unknown>)[k];
    if (v !== null && typeof v === "object" && r.chance(0.7)) {
      cur = v as Record<string, unknown>;
      continue;
    }
    break;
  }
  const keys = Object.keys(cur);
  const k = keys.length > 0 ? r.pick(keys) : "x";
  const table = cur as Record<string, unknown>;
  const op = r.int(0, 9);
  if (op < 7) table[k] = mutantValue(r);
  else if (op < 9) delete table[k];
  else table[`unknown${r.int(0, 99)}`] = mutantValue(r);
}

/** The `n`-th case of a seeded run. */
export function fuzzCase(r: Rng, program: Command, files: Record<string, string>, dir: string, n: number): FuzzCase {
  const all = leaves(program);
  const leaf = r.pick(all);
  const base = r.pick(leaf.bases);
  const json = r.chance(0.3) ? ["--json"] : [];
  const kind = r.int(0, 11);
  if (kind === 0) {
    // Accepted: a command's help, or the list of load-test scenarios.
    return r.bool()
      ? { fault: "help", argv: [...leaf.path, "--help"], expect: 0 }
      : { fault: "list", argv: ["loadtest", "list", ...json], expect: 0 };
  }
  if (kind <= 3) {
    const opts = valueTakingOptions(leaf.command)
      .map((o) => ({ o, v: rejectedValue(r, o) }))
      .filter((x) => x.v !== undefined);
    if (opts.length > 0) {
      const { o, v } = r.pick(opts);
      return { fault: `bad value of ${o.long}`, argv: [...withFlag(base, o.long ?? "", v ?? ""), ...json], expect: 2 };
    }
  }
  if (kind <= 6 && leaf.command.options.some((o) => o.long === "--stack")) {
    const stack = r.chance(0.3) ? r.pick(Object.values(files)) : mutantStack(r, dir, n);
    if (stack !== undefined)
      return { fault: "bad stack file", argv: [...withFlag(base, "--stack", stack), ...json], expect: 2 };
  }
  if (kind === 7) {
    const fileFlag = leaf.command.options.find((o) => o.long === "--plan" || o.long === "--strategy");
    if (fileFlag?.long !== undefined)
      return {
        fault: `hostile ${fileFlag.long} file`,
        argv: [...withFlag(base, fileFlag.long, r.pick(Object.values(files))), ...json],
        expect: 2,
      };
  }
  if (kind === 8 && leaf.command.registeredArguments.length > 0) {
    // Junk in the first argument (fault, service, scenario, component): never one of the names allowed.
    const argv = [...base];
    argv[leaf.path.length] = r.pick(JUNK);
    if (leaf.command.registeredArguments[0]?.variadic !== true || argv.length > leaf.path.length)
      return { fault: "junk argument", argv: [...argv, ...json], expect: 2 };
  }
  if (kind === 9) {
    const required = leaf.command.registeredArguments.some((a) => a.required);
    if (required) return { fault: "missing argument", argv: [...leaf.path, ...json], expect: 2 };
  }
  if (kind === 10 && leaf.command.registeredArguments.every((a) => !a.variadic)) {
    return { fault: "extra argument", argv: [...base, "extra-arg", ...json], expect: 2 };
  }
  const flag = r.pick(["--bogus", "--yes=maybe", "--stak", "-Z", `--${"x".repeat(r.int(1, 300))}`]);
  // --yes=maybe on a command with --yes is still a usage error: a boolean flag takes no value.
  return { fault: "unknown option", argv: [...base, flag, ...json], expect: 2 };
}
