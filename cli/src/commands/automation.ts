/**
 * `imctl preview|up --stack <name>`: the Pulumi program (infra/index.ts) driven through Pulumi's Automation API,
 * with the repository as the workspace (Pulumi.yaml at its root) and the policy pack (infra/policy) enforced.
 *
 * Everything is checked before Pulumi is touched: the stack file (the same one-line errors as `imctl plan`), that it
 * lives under stacks/ (the program reads stacks/<stack>.yaml by the Pulumi stack's name), `--yes` for `up`, and that
 * a `pulumi` binary is on PATH. Without one the command stops with one line and exit 69 (EX_UNAVAILABLE): an
 * ExitError, not a UserError, because nothing the user typed was wrong; the machine lacks the tool. CI can tell the
 * three apart: 2 (bad input), 69 (no Pulumi CLI), 1 (Pulumi ran and the preview or update failed).
 */
import { accessSync, constants } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import type { KubernetesPlatformSpec } from "../../../infra/lib/spec.ts";
import { ExitError, MESSAGES, UserError } from "../errors.ts";
import { REPO_ROOT } from "../../../base/root.mjs";
import { stackFile } from "../lib/paths.ts";
import { loadKubernetesStack } from "./stack.ts";

export type PulumiOperation = "preview" | "up";

export interface PulumiRunOptions {
  stack?: string;
  /** `up` changes cloud resources: it needs this. */
  yes?: boolean;
  /** One line at a time of Pulumi's own output (imctl sends it to stderr). */
  progress?: (line: string) => void;
  /** Where to look for the `pulumi` binary. Default process.env.PATH. */
  path?: string | undefined;
}

export interface PulumiRunResult {
  operation: PulumiOperation;
  stack: string;
  /** The pulumi binary that ran. */
  pulumi: string;
  policyPacks: string[];
  /** Resource operations by kind: create, update, delete, same, replace... */
  changes: Record<string, number>;
  /** `up` only: succeeded or failed. */
  result: "succeeded" | "failed" | "previewed";
  /** `up` only: the stack's outputs, secrets left out. */
  outputs: Record<string, unknown>;
  durationSeconds: number;
}

/** The policy pack every preview and update runs with. */
export const POLICY_PACK_DIR = join(REPO_ROOT, "infra", "policy");

/** What a preview or update would run on, after every check that needs no Pulumi: the stack and the binary. */
export interface PulumiRunPlan {
  spec: KubernetesPlatformSpec;
  pulumi: string;
}

/** Every check before Pulumi is called; throws UserError (bad input) or ExitError 69 (no Pulumi CLI). */
export function preparePulumiRun(operation: PulumiOperation, opts: PulumiRunOptions): PulumiRunPlan {
  const { file, spec } = loadKubernetesStack(opts.stack);
  if (resolve(file) !== stackFile(spec.name)) throw new UserError(MESSAGES.stackOutsideStacks(file, spec.name));
  if (operation === "up" && opts.yes !== true) throw new UserError(MESSAGES.confirmUp(spec.name));
  const pulumi = findOnPath("pulumi", opts.path ?? process.env.PATH ?? "");
  if (pulumi === undefined) throw new ExitError(MESSAGES.noPulumiCli(operation), EXIT_UNAVAILABLE);
  return { spec, pulumi };
}

/** sysexits.h EX_UNAVAILABLE: a program the command needs is not there. */
export const EXIT_UNAVAILABLE = 69;

export async function runPulumi(operation: PulumiOperation, opts: PulumiRunOptions): Promise<PulumiRunResult> {
  const { spec, pulumi } = preparePulumiRun(operation, opts);
  const started = Date.now();
  // Loaded only here: the Automation API is large, and every check above must run without it.
  const { CommandError, LocalWorkspace, PulumiCommand } = await import("@pulumi/pulumi/automation/index.js");
  const progress = lineSplitter(opts.progress ?? (() => undefined));
  const policyPacks = [POLICY_PACK_DIR];
  try {
    const pulumiCommand = await PulumiCommand.get();
    // The stack's Pulumi config lives next to the spec (stackConfigDir: stacks in Pulumi.yaml); a new stack is created
    // empty, as `pulumi preview` would offer, and the program reads everything else from stacks/<stack>.yaml.
    const stack = await LocalWorkspace.createOrSelectStack(
      { stackName: spec.name, workDir: REPO_ROOT },
      { pulumiCommand },
    );
    if (operation === "preview") {
      const r = await stack.preview({ policyPacks, onOutput: progress.push, color: "never" });
      progress.flush();
      return {
        operation,
        stack: spec.name,
        pulumi,
        policyPacks,
        changes: { ...r.changeSummary },
        result: "previewed",
        outputs: {},
        durationSeconds: seconds(started),
      };
    }
    const r = await stack.up({ policyPacks, onOutput: progress.push, color: "never" });
    progress.flush();
    const outputs = Object.fromEntries(
      Object.entries(r.outputs)
        .filter(([, o]) => !o.secret)
        .map(([k, o]) => [k, o.value as unknown]),
    );
    const result = r.summary.result === "succeeded" ? "succeeded" : "failed";
    return {
      operation,
      stack: spec.name,
      pulumi,
      policyPacks,
      changes: { ...(r.summary.resourceChanges ?? {}) },
      result,
      outputs,
      durationSeconds: seconds(started),
    };
  } catch (err) {
    progress.flush();
    if (err instanceof CommandError)
      throw new ExitError(MESSAGES.pulumiFailed(operation, spec.name, lastErrorLine(err.message)), 1);
    throw err;
  }
}

export function renderPulumiRun(r: PulumiRunResult): string {
  const changes = Object.entries(r.changes)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`);
  const lines = [
    `${r.operation} of stack ${r.stack}: ${r.result} in ${r.durationSeconds.toFixed(0)} s (${r.pulumi}, policy pack ${r.policyPacks.join(", ")})`,
    `  resources: ${changes.length ? changes.join(", ") : "no changes"}`,
  ];
  for (const [k, v] of Object.entries(r.outputs)) lines.push(`  output ${k}: ${JSON.stringify(v)}`);
  return lines.join("\n");
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

function seconds(since: number): number {
  return Math.round((Date.now() - since) / 100) / 10;
}

/** Pulumi's error text ends with the useful line ("error: ..."); the rest is its whole log. */
function lastErrorLine(message: string): string {
  const lines = message
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  return lines.reverse().find((l) => /^error:/i.test(l)) ?? lines[0] ?? "unknown error";
}

/** Pulumi's output arrives in chunks; hand it on a whole line at a time. */
function lineSplitter(emit: (line: string) => void): { push: (chunk: string) => void; flush: () => void } {
  let buffered = "";
  return {
    push: (chunk) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) emit(line);
    },
    flush: () => {
      if (buffered !== "") emit(buffered);
      buffered = "";
    },
  };
}
