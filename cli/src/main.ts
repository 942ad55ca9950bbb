/**
 * What the entry point runs: parse the command line, run the command, turn its result or its error into output and
 * an exit code. Only `index.ts` calls it on the real process; tests call it in-process with their own streams.
 *
 * Every failure is one line on stderr (`imctl: ...`), and under `--json` also one JSON object on stdout, so a script
 * never has to parse help text: a usage error names the problem and points at `imctl <cmd> --help` instead of
 * printing the whole help.
 */
import { CommanderError, type Command } from "commander";
import { buildProgram, type Outcome } from "./cli.ts";
import { EXCERPT_CHARS, excerpt } from "../../base/excerpt.ts";
import { withoutCredentials } from "./credentials.ts";
import { EXIT, ExitError, InternalError, UserError } from "./errors.ts";

/** Where main writes; the real process's stdout and stderr unless a test passes its own. */
export interface MainIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: MainIo = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
};

/** Longest line an error prints: a message built from outside input never floods a terminal or a CI log. */
export const MAX_ERROR_CHARS = 400;

/** The command a command line names (its leading words that are subcommands), e.g. "drill run". */
export function commandPath(program: Command, argv: readonly string[]): string[] {
  const path: string[] = [];
  let cmd = program;
  for (const w of argv) {
    if (w.startsWith("-")) break;
    const sub = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
    if (sub === undefined) break;
    path.push(sub.name());
    cmd = sub;
  }
  return path;
}

/** One line, control characters shown escaped, cut to MAX_ERROR_CHARS. */
export function oneLine(message: string): string {
  const flat = message
    .replace(/[\r\n]+/g, " ")
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
  return flat.length > MAX_ERROR_CHARS ? `${flat.slice(0, MAX_ERROR_CHARS - 1)}…` : flat;
}

/** A usage error as one line: commander's message without its "error: " prefix, then where the help is. */
function usageMessage(err: CommanderError, program: Command, argv: readonly string[]): string {
  const path = commandPath(program, argv);
  const help = `see imctl ${[...path, "--help"].join(" ")}`;
  if (err.code === "commander.help" || err.code === "commander.executeSubCommandAsync") {
    // A command that only groups subcommands, given none.
    let cmd = program;
    for (const p of path) cmd = cmd.commands.find((c) => c.name() === p) ?? cmd;
    const subs = cmd.commands.map((c) => c.name()).join(", ");
    return `${path.length > 0 ? `imctl ${path.join(" ")}` : "imctl"} needs a subcommand (${subs}); ${help}`;
  }
  const msg = err.message.replace(/^error:\s*/, "").replace(/\s+$/, "");
  // commander: "option '-n, --lines <n>' argument '-5' is invalid. got ...": the flag, then the parser's own words
  // (which quote only an excerpt of the value).
  const bad = /^option '(?:-\w, )?(--[\w-]+)[^']*' argument '([\s\S]*)' is invalid\. ([\s\S]*)$/.exec(msg);
  if (bad) {
    const choices = /^Allowed choices are (.*?)\.?$/.exec(bad[3] ?? "");
    const why = choices ? `got ${excerpt(bad[2])}; allowed: ${choices[1]}` : bad[3];
    return `${bad[1]}: ${why}; ${help}`;
  }
  const badArg = /^command-argument value '[\s\S]*' is invalid for argument '([^']*)'\. ([\s\S]*)$/.exec(msg);
  if (badArg) return `<${badArg[1]}>: ${badArg[2]}; ${help}`;
  // Anything else quotes what it got in single quotes (an unknown option, a command): an excerpt of it.
  const quoted = msg.replace(/'([^']{81,})'/g, (_m, q: string) => `'${q.slice(0, EXCERPT_CHARS)}…'`);
  return `${quoted}; ${help}`;
}

/**
 * Prefix of an internal error's line (exit 70), so an operator knows it is not their input; docs/troubleshooting.md
 * says what to do (IMCTL_DEBUG=1 prints the stack trace).
 */
export const INTERNAL_ERROR = "internal error";

/** `build` makes the command table; tests pass their own to reach the error paths no real input should reach. */
export async function main(argv: string[], given: MainIo = processIo, build = buildProgram): Promise<number> {
  // Whatever a command returns or throws may quote a stack's URL: a password in one never reaches the output.
  const io: MainIo = { out: (t) => given.out(withoutCredentials(t)), err: (t) => given.err(withoutCredentials(t)) };
  let outcome: Outcome | undefined;
  const program = build((o) => {
    outcome = o;
  });
  // Help and version go to stdout as asked; commander's own error printing is replaced by the one line below.
  program.configureOutput({ writeOut: (s) => io.out(s), writeErr: () => undefined, outputError: () => undefined });
  for (const c of everyCommand(program))
    c.configureOutput({ writeOut: (s) => io.out(s), writeErr: () => undefined, outputError: () => undefined });
  const json = argv.includes("--json");
  const fail = (message: string, exitCode: number): number => {
    const line = oneLine(message);
    io.err(`imctl: ${line}\n`);
    if (json) io.out(`${JSON.stringify({ error: line, exitCode })}\n`);
    return exitCode;
  };
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      return fail(usageMessage(err, program, argv), EXIT.usage);
    }
    if (err instanceof UserError || err instanceof ExitError) return fail(err.message, err.exitCode);
    // Anything else is a bug or a state imctl did not foresee: EX_SOFTWARE, never 1, which is a command's bad verdict
    // (a script must be able to tell "the drill failed" from "imctl failed").
    const e = err instanceof Error ? err : new Error(String(err));
    if (process.env.IMCTL_DEBUG) io.err(`${e.stack ?? ""}\n`);
    return fail(`${INTERNAL_ERROR}: ${e instanceof InternalError ? "" : `${e.name}: `}${e.message}`, EXIT.software);
  }
  if (outcome === undefined) return 0;
  io.out(json ? `${JSON.stringify(outcome.data, null, 2)}\n` : `${outcome.text}\n`);
  return outcome.exitCode;
}

function everyCommand(c: Command): Command[] {
  return c.commands.flatMap((s) => [s, ...everyCommand(s)]);
}
