/**
 * What imctl needs to run the real Pulumi engine on this machine: where the CLI and the resource provider plugins
 * are (the project's .tools/bin first, then PATH, then Pulumi's plugin cache), the local file backend under the
 * state directory, and the passphrase that encrypts the stacks' secrets. No Pulumi import: the checks here run
 * before the Automation API is loaded, so a machine without the engine gets one line, not a stack trace.
 */
import { randomBytes } from "node:crypto";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { toolsDir } from "../../../base/tools.mjs";
import { stateDir } from "./paths.ts";

/** A resource provider plugin a stack needs, and what it provisions (for the message when it is missing). */
export interface PluginNeed {
  name: string;
  what: string;
}

/** The first executable `name` in a PATH-style list, or undefined. */
export function findOnPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The directories searched for the engine's binaries: the project's .tools/bin, then PATH. */
export function engineSearchPath(path: string = process.env.PATH ?? ""): string {
  return [join(toolsDir(), "bin"), path].filter((p) => p !== "").join(delimiter);
}

/** Pulumi's own plugin cache: plugins `pulumi plugin install` put there count as installed. */
function pluginCacheHas(name: string): boolean {
  const dir = join(process.env.PULUMI_HOME ?? join(homedir(), ".pulumi"), "plugins");
  try {
    return readdirSync(dir).some((d) => d.startsWith(`resource-${name}-v`));
  } catch {
    return false;
  }
}

/** The plugins of `needs` that are neither on the search path (ambient plugins) nor in Pulumi's plugin cache. */
export function missingPlugins(needs: readonly PluginNeed[], searchPath: string): PluginNeed[] {
  return needs.filter(
    (n) => findOnPath(`pulumi-resource-${n.name}`, searchPath) === undefined && !pluginCacheHas(n.name),
  );
}

/** Where imctl keeps its Pulumi state: the file backend and one workspace directory per stack. */
export function pulumiDir(): string {
  return join(stateDir(), "pulumi");
}

/** The file backend's URL; its directory is created on first use. */
export function backendUrl(): string {
  const dir = join(pulumiDir(), "state");
  mkdirSync(dir, { recursive: true });
  return `file://${dir}`;
}

/** The stack's workspace directory (Pulumi.yaml and the stack's encrypted config); created on first use. */
export function workspaceDir(stack: string): string {
  const dir = join(pulumiDir(), "workspaces", stack);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * A private temporary directory for one engine run (TMPDIR of the Pulumi CLI and its plugins), removed when this
 * process exits. The kubernetes provider writes the cluster's kubeconfig, credentials included, to a temp file it
 * never removes: 20 such files per test run piled up in /tmp. Here they live under the stack's workspace (0700) and
 * go with the run; a run killed outright leaves them there, not in /tmp.
 */
export function engineTempDir(stack: string): string {
  const dir = mkdtempSync(join(workspaceDir(stack), "tmp-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The passphrase that encrypts every imctl-managed stack's secrets, kept in the state directory's secrets.json
 * (0600, beside the local target's secrets) and created on first use. Never printed or logged.
 */
export function pulumiPassphrase(): string {
  const file = join(stateDir(), "secrets.json");
  const secrets = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>) : {};
  const existing = secrets.pulumiPassphrase;
  if (typeof existing === "string" && existing.length >= 16) return existing;
  const passphrase = randomBytes(24).toString("base64url");
  mkdirSync(stateDir(), { recursive: true });
  writeFileSync(file, JSON.stringify({ ...secrets, pulumiPassphrase: passphrase }, null, 2), { mode: 0o600 });
  return passphrase;
}
