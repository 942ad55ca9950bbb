/**
 * The local target's state directory as the read-side commands find it: what is recorded there (state.json), and
 * whether it is a state directory at all.
 */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { UserError } from "../../errors.ts";
import { stackFile as namedStackFile, stateDir } from "../../lib/paths.ts";
import { WORKFLOW_DIRS } from "../../lib/records.ts";
import { TARGET_MESSAGES } from "../messages.ts";
import type { LocalState } from "./context.ts";

export const stateFile = (dir: string) => join(dir, "state.json");

/** A JSON object from `file`, undefined when there is none; a file that is not one is a UserError naming it. */
export function readJson<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    v = undefined;
  }
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new UserError(TARGET_MESSAGES.stateFileBroken(file));
  return v as T;
}

/** What imctl writes at the top of a state directory (the local platform, the cluster, the engine, the records). */
const STATE_ENTRIES = new Set([
  "state.json",
  "secrets.json",
  "lock",
  "data",
  "logs",
  "prometheus",
  "canary",
  "releases",
  "loadtests",
  "cloud-upgrades",
  "cluster",
  "kubernetes",
  "pulumi",
  ...Object.values(WORKFLOW_DIRS),
]);

/**
 * The stack that status, logs, down, reset and the workflows work on: the one the platform was brought up from.
 * The default stack defers to it; a stack named by --stack is validated first, and refused when it is another file,
 * since these commands could not honour it. The state directory itself is checked: a file where the directory should
 * be, or an existing directory with no state.json (an unrelated folder), is said to be so instead of being read as
 * "every component stopped".
 */
/**
 * Checks the state directory `imctl local up` is about to write into: a missing or empty directory, or one imctl
 * already writes, is fine; a regular file, or a folder holding only things imctl never wrote (a home directory, a
 * checkout), is refused, since a later `reset --yes` deletes everything in it.
 */
export function checkStateDirForUp(): void {
  const dir = stateDir();
  const fromEnv = process.env.IMCTL_STATE_DIR !== undefined;
  const isDir = directoryState(dir);
  if (isDir === false) throw new UserError(TARGET_MESSAGES.stateDirNotDirectory(dir, fromEnv));
  if (isDir === true) {
    const entries = readdirSync(dir);
    if (entries.length > 0 && !entries.some((e) => STATE_ENTRIES.has(e)))
      throw new UserError(TARGET_MESSAGES.stateDirForeign(dir, fromEnv));
  }
}

/** True for a directory, false for anything else that exists, undefined when nothing is there. */
function directoryState(dir: string): boolean | undefined {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return undefined; // missing: nothing brought up yet (a fresh checkout)
  }
}

export function resolveStateStack(given: string, validate: (file: string) => void): string {
  const dir = stateDir();
  const fromEnv = process.env.IMCTL_STATE_DIR !== undefined;
  const isDir = directoryState(dir);
  if (isDir === false) throw new UserError(TARGET_MESSAGES.stateDirNotDirectory(dir, fromEnv));
  const s = readJson<LocalState>(stateFile(dir));
  // A folder with nothing imctl writes (an empty one included) is not a state directory: say so, never "stopped".
  if (isDir === true && s === undefined && !readdirSync(dir).some((e) => STATE_ENTRIES.has(e)))
    throw new UserError(TARGET_MESSAGES.stateDirForeign(dir, fromEnv));
  const recorded = typeof s?.stack === "string" && existsSync(s.stack) ? s.stack : undefined;
  if (recorded === undefined || sameFile(given, recorded)) return given;
  if (sameFile(given, namedStackFile("local"))) return recorded;
  validate(given); // a bad file gets its own error first
  throw new UserError(TARGET_MESSAGES.stackNotRecorded(given, recorded));
}

function sameFile(a: string, b: string): boolean {
  const real = (f: string) => {
    try {
      return realpathSync(f);
    } catch {
      return resolve(f);
    }
  };
  return real(a) === real(b);
}
