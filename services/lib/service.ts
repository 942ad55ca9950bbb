import { ConfigError } from "./config.ts";

/**
 * Runs a service's start-up. A configuration error is one line on stderr and exit code 78 (EX_CONFIG);
 * any other start-up failure is logged with its stack and exits 1.
 */
export function runService(name: string, start: () => Promise<void>): void {
  start().catch((err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`${name}: ${err.message}\n`);
    else
      process.stderr.write(
        `${name}: start-up failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
    process.exit(err instanceof ConfigError ? 78 : 1);
  });
}
