/**
 * `imctl preview|up|destroy --stack <name>`: the Pulumi program run by the real engine through the Automation API,
 * inline: the program is `deployPlatform` (infra/platform.ts, the same function infra/index.ts runs for
 * `pulumi up` with Pulumi.yaml) called in this process, so no nodejs language host is needed. State goes to a local
 * file backend under the state directory (.imctl/pulumi/), secrets are encrypted with a passphrase kept in
 * .imctl/secrets.json, and the stack's secret seed (from which the program derives the platform's secrets) is
 * created once as a Pulumi secret in the stack's config.
 *
 * Everything is checked before Pulumi is touched: the stack file (the same one-line errors as `imctl plan`),
 * `--yes` for `up` and `destroy`, that the Pulumi CLI is there (.tools/bin, then PATH), and that every resource
 * provider plugin the stack needs is (kubernetes for every stack; aws, alicloud, random and docker-build for the
 * cloud stacks). A missing one stops the command with one line and exit 69 (EX_UNAVAILABLE):
 * an ExitError, not a UserError, because nothing the user typed was wrong; the machine lacks the tool. CI can tell
 * them apart: 2 (bad input), 69 (a tool missing), 1 (Pulumi ran and the update failed or a policy refused it).
 *
 * `preview` and `up` pass the policy pack: imctl evaluates it on the engine's own registrations from a preview
 * (policy-gate.ts says why the engine cannot load it here), and `up` runs only when no policy fails.
 */
import { randomBytes } from "node:crypto";
import { dirname } from "node:path";
import type { KubernetesPlatformSpec } from "../../../infra/lib/spec.ts";
import { NODE_LOCAL_REGISTRY } from "../../../infra/lib/spec-cluster.ts";
import { clusterLayout } from "../cluster/layout.ts";
import { readImageRefs } from "../cluster/node/node.ts";
import { localDatabaseAdmin } from "../targets/open.ts";
import { EXIT, ExitError, MESSAGES, UserError } from "../errors.ts";
import { withLock } from "../lib/lock.ts";
import {
  backendUrl,
  engineSearchPath,
  engineTempDir,
  findOnPath,
  missingPlugins,
  pulumiDir,
  pulumiPassphrase,
  workspaceDir,
  type PluginNeed,
} from "../lib/pulumi-engine.ts";
import { judge, RegistrationLog, type PolicyVerdict } from "./policy-gate.ts";
import { loadKubernetesStack } from "./stack.ts";
import { findPlaceholders, placeholderMessage } from "../../../infra/lib/placeholders.ts";

export { findOnPath };

export type PulumiOperation = "preview" | "up" | "destroy";

export interface PulumiRunOptions {
  stack?: string;
  /** `up` and `destroy` change resources: they need this. */
  yes?: boolean;
  /** One line at a time of Pulumi's own output and imctl's steps (imctl sends them to stderr). */
  progress?: (line: string) => void;
  /** Where to look for the `pulumi` binary and ambient plugins after .tools/bin. Default process.env.PATH. */
  path?: string | undefined;
}

export interface PulumiRunResult {
  operation: PulumiOperation;
  stack: string;
  /** The pulumi binary that ran. */
  pulumi: string;
  /** The policy pack's verdict on what the engine registered (preview and up). */
  policy: PolicyVerdict | undefined;
  /** Resource operations by kind: create, update, delete, same, replace... */
  changes: Record<string, number>;
  /** refused: a policy failed, so nothing was changed. */
  result: "succeeded" | "failed" | "previewed" | "refused";
  /** `up` only: the stack's outputs, secrets left out. */
  outputs: Record<string, unknown>;
  durationSeconds: number;
}

/** The Pulumi project every imctl-managed stack belongs to (Pulumi.yaml's name). */
export const PROJECT = "im-platform";

/** What a preview or update would run on, after every check that needs no Pulumi. */
export interface PulumiRunPlan {
  spec: KubernetesPlatformSpec;
  pulumi: string;
  searchPath: string;
}

/** sysexits.h EX_UNAVAILABLE: a program the command needs is not there. */
export const EXIT_UNAVAILABLE = EXIT.unavailable;

/** The provider plugins a stack's program instantiates. */
export function pluginsFor(spec: KubernetesPlatformSpec): PluginNeed[] {
  const needs: PluginNeed[] = [{ name: "kubernetes", what: "the Kubernetes resources" }];
  if (spec.clouds?.aws !== undefined) needs.push({ name: "aws", what: "the AWS resources of clouds.aws" });
  if (spec.clouds?.alicloud !== undefined)
    needs.push({ name: "alicloud", what: "the Alibaba Cloud resources of clouds.alicloud" });
  if (spec.clouds?.aws !== undefined || spec.clouds?.alicloud !== undefined)
    needs.push({ name: "random", what: "generated passwords of the cloud data tier" });
  if (spec.kubernetes.image.build !== undefined)
    needs.push({ name: "docker-build", what: "the image builds of kubernetes.image.build" });
  return needs;
}

/** Every check before Pulumi is called; throws UserError (bad input) or ExitError 69 (a tool missing). */
export function preparePulumiRun(operation: PulumiOperation, opts: PulumiRunOptions): PulumiRunPlan {
  // The program is inline and takes the spec itself, so a stack file may live anywhere; its name (which must match
  // the file name) is the Pulumi stack's.
  const { file, spec } = loadKubernetesStack(opts.stack);
  if (operation !== "preview" && opts.yes !== true) throw new UserError(MESSAGES.confirmPulumi(operation, spec.name));
  const searchPath = engineSearchPath(opts.path ?? process.env.PATH ?? "");
  const pulumi = findOnPath("pulumi", searchPath);
  if (pulumi === undefined) throw new ExitError(MESSAGES.noPulumiCli(operation), EXIT_UNAVAILABLE);
  const missing = missingPlugins(pluginsFor(spec), searchPath);
  if (missing.length > 0) throw new ExitError(MESSAGES.noPulumiPlugin(operation, spec.name, missing), EXIT_UNAVAILABLE);
  // A cloud stack with a value only its owner can supply (an example host, a documentation range) goes no further.
  const placeholder = placeholderMessage(file, findPlaceholders(spec));
  if (placeholder !== null) throw new UserError(placeholder);
  return { spec, pulumi, searchPath };
}

/** The stack in imctl's workspace, with the program inline; creates it (and its secret seed) on first use. */
export async function openEngineStack(plan: PulumiRunPlan) {
  // Loaded only here: the Automation API is large, and every check before must run without it.
  const { LocalWorkspace, PulumiCommand } = await import("@pulumi/pulumi/automation/index.js");
  const { spec } = plan;
  const pulumiCommand = await PulumiCommand.get({ root: dirname(dirname(plan.pulumi)) });
  const deployOptions = { ...nodeLocalImages(spec), ...localDataTierAdmin(spec) };
  const program = async () => {
    const { deployPlatform, platformOutputs } = await import("../../../infra/program.ts");
    const { secret } = await import("@pulumi/pulumi");
    const { databaseAdminPassword, ...rest } = deployOptions;
    const opts =
      databaseAdminPassword === undefined ? rest : { ...rest, databaseAdminPassword: secret(databaseAdminPassword) };
    return platformOutputs(spec, deployPlatform(spec, opts));
  };
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: spec.name, projectName: PROJECT, program },
    {
      workDir: workspaceDir(spec.name),
      pulumiCommand,
      secretsProvider: "passphrase",
      projectSettings: { name: PROJECT, runtime: "nodejs", backend: { url: backendUrl() } },
      envVars: {
        PULUMI_CONFIG_PASSPHRASE: pulumiPassphrase(),
        PULUMI_BACKEND_URL: backendUrl(),
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: "true",
        // The kubernetes provider (and any other plugin) is found on this path as an ambient plugin.
        PATH: plan.searchPath,
        // What the engine and its plugins leave in their temp dir (a kubeconfig with credentials) goes with the run.
        TMPDIR: engineTempDir(spec.name),
      },
    },
  );
  const config = await stack.getAllConfig();
  if (config[`${PROJECT}:secretSeed`] === undefined)
    await stack.setConfig("secretSeed", { value: randomBytes(32).toString("base64url"), secret: true });
  return stack;
}

export async function runPulumi(operation: PulumiOperation, opts: PulumiRunOptions): Promise<PulumiRunResult> {
  const plan = preparePulumiRun(operation, opts);
  return withLock(`${pulumiDir()}/${plan.spec.name}.lock`, `imctl ${operation} --stack ${plan.spec.name}`, () =>
    drive(operation, plan, opts.progress ?? (() => undefined)),
  );
}

async function drive(
  operation: PulumiOperation,
  plan: PulumiRunPlan,
  progress: (line: string) => void,
): Promise<PulumiRunResult> {
  const started = Date.now();
  const { CommandError } = await import("@pulumi/pulumi/automation/index.js");
  const step = (what: string) => progress(`[${operation} ${seconds(started).toFixed(0)}s] ${what}`);
  const out = lineSplitter(progress);
  const base = { operation, stack: plan.spec.name, pulumi: plan.pulumi };
  try {
    step(`opening stack ${plan.spec.name} (backend ${backendUrl()})`);
    const stack = await openEngineStack(plan);
    if (operation === "destroy") {
      step("destroying every resource of the stack");
      const r = await stack.destroy({ onOutput: out.push, color: "never" });
      out.flush();
      return { ...base, policy: undefined, changes: { ...(r.summary.resourceChanges ?? {}) }, ...done(r, started) };
    }
    step("preview: the engine registers what the program declares");
    const log = new RegistrationLog();
    const pre = await stack.preview({ onOutput: out.push, onEvent: log.onEvent, color: "never" });
    out.flush();
    const policy = judge(log);
    step(
      `policy pack: ${policy.policies.length} policies over ${policy.resources} resources, ${policy.violations.length} violations`,
    );
    const previewed = { ...base, policy, changes: { ...pre.changeSummary }, outputs: {} };
    if (policy.violations.length > 0) return { ...previewed, result: "refused", durationSeconds: seconds(started) };
    if (operation === "preview") return { ...previewed, result: "previewed", durationSeconds: seconds(started) };
    step("up: applying the changes and waiting for every resource to be ready");
    const r = await stack.up({ onOutput: out.push, color: "never" });
    out.flush();
    const outputs = Object.fromEntries(
      Object.entries(r.outputs)
        .filter(([, o]) => !o.secret)
        .map(([k, o]) => [k, o.value as unknown]),
    );
    return { ...base, policy, changes: { ...(r.summary.resourceChanges ?? {}) }, ...done(r, started), outputs };
  } catch (err) {
    out.flush();
    if (err instanceof CommandError)
      throw new ExitError(MESSAGES.pulumiFailed(operation, plan.spec.name, lastErrorLine(err.message)), 1);
    throw err;
  }
}

function done(
  r: { summary: { result: string } },
  started: number,
): { result: "succeeded" | "failed"; outputs: Record<string, unknown>; durationSeconds: number } {
  return {
    result: r.summary.result === "succeeded" ? "succeeded" : "failed",
    outputs: {},
    durationSeconds: seconds(started),
  };
}

export function renderPulumiRun(r: PulumiRunResult): string {
  const changes = Object.entries(r.changes)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`);
  const lines = [
    `${r.operation} of stack ${r.stack}: ${r.result} in ${r.durationSeconds.toFixed(0)} s (${r.pulumi})`,
    `  resources: ${changes.length ? changes.join(", ") : "no changes"}`,
  ];
  if (r.policy !== undefined) {
    const p = r.policy;
    const verdict = p.violations.length === 0 ? "passed" : `${p.violations.length} violation(s)`;
    lines.push(
      `  policy pack: ${verdict} (${p.policies.length} policies over the ${p.resources} resources the engine registered)`,
    );
    for (const v of p.violations) lines.push(`    ${v.policy}: ${v.type} ${v.resource}: ${v.message}`);
    if (r.result === "refused") lines.push("  refused: nothing was created, changed or deleted");
  }
  for (const [k, v] of Object.entries(r.outputs)) lines.push(`  output ${k}: ${JSON.stringify(v)}`);
  return lines.join("\n");
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

/**
 * A stack whose image registry is `imctl.local` runs the images the embedded cluster's real node holds (built from
 * this checkout by `imctl cluster up --nodes real` or `imctl cluster images`, tagged by content).
 */
export function nodeLocalImages(spec: KubernetesPlatformSpec): { imageRefs?: ImageRefs } {
  if (spec.kubernetes.image.registry !== NODE_LOCAL_REGISTRY || spec.cluster === undefined) return {};
  const refs = readImageRefs(clusterLayout());
  if (!refs) throw new UserError(MESSAGES.noNodeImages(spec.name));
  return { imageRefs: { gateway: refs.gateway, message: refs.message, userCenter: refs["user-center"] } };
}

type ImageRefs = { gateway: string; message: string; userCenter: string };

/**
 * An existing-cluster stack whose external database is the local target's (same loopback address and port) signs its
 * migrations in with the local target's admin credential, which imctl holds; any other stack uses the Pulumi config
 * secret databaseAdminPassword.
 */
export function localDataTierAdmin(spec: KubernetesPlatformSpec): { databaseAdminPassword?: string } {
  const data = spec.cluster?.data;
  if (data?.mode !== "external") return {};
  const admin = localDatabaseAdmin();
  if (!admin || admin.host !== data.database.host || admin.port !== data.database.port) return {};
  if (data.database.adminUser !== admin.user) return {};
  return { databaseAdminPassword: admin.password };
}
