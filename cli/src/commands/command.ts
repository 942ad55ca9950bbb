/**
 * What every command's register.ts shares: how an action imports its handler only when it runs (so `imctl --help`
 * stays fast), how a handler's result reaches the printer (cli/src/index.ts, the only place that prints), the option
 * parsers several commands use, and the help's example lines.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { withoutCredentials } from "../credentials.ts";

/** A command's result as the entry point prints it: `data` for --json, `text` otherwise, and the exit code. */
export interface Outcome {
  data: unknown;
  text: string;
  exitCode: number;
}

/** Where an action hands its Outcome; the entry point passes one to buildProgram and prints what it receives. */
export type Sink = (o: Outcome) => void;

/** A result for the printer; exit code 0 unless the command's verdict says otherwise. */
export function outcome(data: unknown, text: string, exitCode = 0): Outcome {
  return { data, text, exitCode };
}

/** Makes commander actions that run a handler of module `M` with the command's arguments and options. */
export type Act<M> = <A extends unknown[]>(
  run: (m: M, ...args: A) => Promise<Outcome> | Outcome,
) => (...args: A) => Promise<void>;

/**
 * Binds a command folder's handler module to the sink: `act((m, ...args) => ...)` is a commander action that imports
 * the module on first use, runs the handler with the command's arguments and options, and hands the Outcome over.
 */
export function lazyActions<M>(sink: Sink, load: () => Promise<M>): Act<M> {
  return (run) =>
    async (...args) => {
      sink(await run(await load(), ...args));
    };
}

/** Progress lines of a long-running workflow go to stderr, so stdout keeps only the result (and --json stays JSON). */
export function progress(line: string): void {
  process.stderr.write(`${withoutCredentials(line)}\n`);
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidArgumentError(`got ${JSON.stringify(value)}; allowed: a whole number above 0`);
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`got ${JSON.stringify(value)}; allowed: a number above 0`);
  return n;
}

/** `--stack`, default `local`: the option of every command that works on the local target's stack. */
export const stackOption = (): Option =>
  new Option("-s, --stack <name|file>", "stack name under stacks/, or a stack file path").default("local");

/** The heading the example lines sit under in a command's help; cli.test.ts finds them by it. */
export const EXAMPLES_HEADING = "Examples:";

/**
 * Adds example lines (each an imctl command line without the leading `imctl`) after a command's help.
 * cli.test.ts parses every one through the real command table, so an example cannot go stale.
 */
export function examples(cmd: Command, lines: readonly string[]): Command {
  return cmd.addHelpText("after", `\n${EXAMPLES_HEADING}\n${lines.map((l) => `  $ imctl ${l}`).join("\n")}`);
}
