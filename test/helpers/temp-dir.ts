/**
 * Temporary directories for tests, removed when the test process exits: node:test runs every test file in a process
 * of its own, so that is when the file is done, a failed assertion or a test that never reached its own clean-up
 * included.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The directories tempDir made in this process, less those handed back with keepTempDir or removeTempDir. */
const madeDirs = new Set<string>();

process.once("exit", () => {
  if (process.env.IMCTL_TEST_KEEP_STATE === "1") {
    if (madeDirs.size > 0)
      process.stderr.write(`temp dirs kept (IMCTL_TEST_KEEP_STATE=1): ${[...madeDirs].join(" ")}\n`);
    return;
  }
  for (const dir of madeDirs) {
    // Best effort: a directory that cannot go must not turn a passing test file into a failed one.
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      process.stderr.write(`could not remove ${dir}\n`);
    }
  }
});

export interface TempDirOptions {
  /**
   * The caller removes the directory itself, or keeps it on purpose (a platform's state after a failed down).
   * Default false: the directory is removed when this process exits, unless IMCTL_TEST_KEEP_STATE=1.
   */
  keep?: boolean;
}

/** A new directory /tmp/imctl-<prefix>-XXXXXX, removed when this process exits (see TempDirOptions.keep). */
export function tempDir(prefix: string, opts: TempDirOptions = {}): string {
  const dir = mkdtempSync(join(tmpdir(), `imctl-${prefix}-`));
  if (opts.keep !== true) madeDirs.add(dir);
  return dir;
}

/** Leaves a directory from tempDir in place at exit: it holds what a failed teardown left, to be read or undone. */
export function keepTempDir(dir: string): void {
  madeDirs.delete(dir);
}

/** Removes a directory from tempDir now, for one that is of no use past this point. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  madeDirs.delete(dir);
}
