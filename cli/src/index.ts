/**
 * imctl's entry point: the only place that prints a command's result and sets the exit code.
 * Commands never call process.exit; errors become one line on stderr.
 */
import { CommanderError } from "commander";
import { buildProgram, type Outcome } from "./cli.ts";
import { ExitError, InternalError, UserError } from "./errors.ts";

export async function main(argv: string[]): Promise<number> {
  let outcome: Outcome | undefined;
  const program = buildProgram((o) => {
    outcome = o;
  });
  const json = argv.includes("--json");
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UserError || err instanceof ExitError) {
      process.stderr.write(`imctl: ${err.message}\n`);
      if (json) process.stdout.write(`${JSON.stringify({ error: err.message, exitCode: err.exitCode })}\n`);
      return err.exitCode;
    }
    const e = err instanceof InternalError ? err : err instanceof Error ? err : new Error(String(err));
    process.stderr.write(`imctl: ${e.message}\n`);
    if (process.env.IMCTL_DEBUG) process.stderr.write(`${e.stack ?? ""}\n`);
    if (json) process.stdout.write(`${JSON.stringify({ error: e.message, exitCode: 1 })}\n`);
    return 1;
  }
  if (outcome === undefined) return 0;
  process.stdout.write(json ? `${JSON.stringify(outcome.data, null, 2)}\n` : `${outcome.text}\n`);
  return outcome.exitCode;
}

process.exitCode = await main(process.argv.slice(2));
