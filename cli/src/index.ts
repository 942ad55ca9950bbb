/**
 * imctl's entry point: the only place that sets the exit code. Commands never call process.exit; main() prints a
 * command's result, or its error as one line.
 */
import { main } from "./main.ts";

process.exitCode = await main(process.argv.slice(2));
