/**
 * imctl rollout: canary releases with metric analysis and automatic rollback. `start` validates everything,
 * records the rollout and runs its controller in the foreground (progress on stderr); promote, pause and abort
 * from another terminal write intent that the controller acts on. When no controller runs (imctl was killed),
 * `resume` continues and `abort` acts directly.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { UserError } from "../../errors.ts";
import { MESSAGES } from "./messages.ts";
import { openTarget as openTargetOf } from "../../targets/open.ts";
import { SERVICE_NAMES, type RolloutTarget, type ServiceName } from "../../targets/target.ts";
import { loadSpec } from "../../../../infra/lib/spec.ts";
import { resolveStack } from "../stack.ts";
import type { LoadtestGate } from "./analysis.ts";
import { abortDirectly, runController, type ControllerOptions } from "./controller.ts";
import { ACTIVE_PHASES, intentEffect, type Intent, type RolloutState } from "./machine.ts";
import { rolloutChart } from "./report.ts";
import {
  liveController,
  listHistory,
  readAudit,
  readRollout,
  rolloutsDir,
  saveRollout,
  audit,
  who,
  writeIntent,
  type AuditEntry,
} from "./store.ts";
import { loadStrategy } from "./strategy.ts";

export { renderHistory, renderStatus } from "./report.ts";

export interface TargetOptions {
  target?: string;
  stack?: string;
  /** kubernetes: namespace of the IM services. Default "im". */
  namespace?: string;
  /** kubernetes: kubeconfig context. Default: the current one. */
  context?: string;
  /** kubernetes: Prometheus base URL. */
  prometheus?: string;
  /** kubernetes: image repository of the services' images, e.g. registry.example.com/im. */
  imageRepo?: string;
  /** kubernetes: the platform's edge URL, where load-test gates send their traffic. */
  edge?: string;
}

export interface StartOptions extends TargetOptions {
  version: string;
  strategy?: string;
  env?: string[];
  progress: (line: string) => void;
}

const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function checkService(service: string): ServiceName {
  const s = SERVICE_NAMES.find((x) => x === service);
  if (s === undefined) throw new UserError(MESSAGES.unknownService(service));
  return s;
}

export async function openTarget(o: TargetOptions): Promise<RolloutTarget> {
  const { namespace, context, prometheus, imageRepo } = o;
  const kubernetes = { namespace, context, prometheus, imageRepo };
  return openTargetOf({ stack: o.stack, target: o.target, kubernetes }).rollout();
}

/** The target a rollout runs on: --target, else the stack's own. */
function kindOfStack(o: TargetOptions): string {
  return openTargetOf({ stack: o.stack, target: o.target }).kind;
}

/** Whether the stack runs on an existing cluster (the embedded one's edge is found without --edge). */
function existingCluster(stack: string | undefined): boolean {
  try {
    return loadSpec(resolveStack(stack)).cluster !== undefined;
  } catch {
    return false; // a bad stack file is reported by the target's own opening, with its one-line message
  }
}

function controllerOptions(t: RolloutTarget, o: TargetOptions, progress: (line: string) => void): ControllerOptions {
  return {
    progress,
    onChange: (s) => writeChart(t, s),
    loadtest: async (g: LoadtestGate) => {
      const { run } = await import("../loadtest/index.ts");
      const r = await run(g.scenario, {
        // "local" resolves the stack's own edge: the local target's, or the embedded cluster's (loadtest/index.ts).
        target: t.kind === "local" || o.edge === undefined ? "local" : o.edge,
        stack: o.stack,
        vus: g.vus,
        rate: g.rate,
        duration: g.duration,
        maxP99: g.maxP99,
        progress,
      });
      return {
        value: r.passed ? 1 : 0,
        detail: `k6 ${g.scenario}: ${r.passed ? "passed" : `failed (${r.failedThresholds.join("; ") || `exit ${r.k6ExitCode}`})`}, lost ${r.figures.lost}`,
      };
    },
  };
}

function chartFile(t: RolloutTarget, s: RolloutState): string {
  return join(rolloutsDir(t.stateDir), `${s.service}-${s.id}.svg`);
}

function writeChart(t: RolloutTarget, s: RolloutState): void {
  writeFileSync(chartFile(t, s), rolloutChart(s));
}

export interface RolloutResult {
  service: string;
  phase: RolloutState["phase"];
  /** Index of the current step (0-based); equal to `steps` once every step ran. */
  step: number;
  steps: number;
  canaryWeight: number;
  version: string;
  stableVersion: string;
  /** Why it is paused or aborted. */
  reason: string | null;
  /** The live controller, if one runs. */
  controller: { pid: number; since: string } | null;
  /** The picture of weights and metrics over time. */
  chart: string;
  rollout: RolloutState;
}

function result(t: RolloutTarget, s: RolloutState): RolloutResult {
  const c = liveController(t.stateDir, s.service);
  return {
    service: s.service,
    phase: s.phase,
    step: s.step,
    steps: s.strategy.steps.length,
    canaryWeight: s.canaryWeight,
    version: s.version,
    stableVersion: s.stableVersion,
    reason: s.reason ?? null,
    controller: c ? { pid: c.pid, since: c.since } : null,
    chart: relative(process.cwd(), chartFile(t, s)),
    rollout: s,
  };
}

export async function start(service: string, o: StartOptions): Promise<RolloutResult> {
  // Everything is validated before anything changes.
  const svc = checkService(service);
  if (!VERSION_RE.test(o.version)) throw new UserError(MESSAGES.rolloutVersion(o.version));
  const env: Record<string, string> = {};
  for (const e of o.env ?? []) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(e);
    if (!m?.[1]) throw new UserError(MESSAGES.rolloutEnv(e));
    env[m[1]] = m[2] ?? "";
  }
  const strategy = loadStrategy(svc, o.strategy);
  const gates = strategy.steps.some(
    (st) => "analysis" in st && st.analysis.metrics.some((m) => "loadtest" in m.provider),
  );
  const needsEdge = gates && kindOfStack(o) === "kubernetes" && !existingCluster(o.stack);
  if ((needsEdge || o.edge !== undefined) && (o.edge === undefined || !/^https?:\/\/\S+$/.test(o.edge))) {
    throw new UserError(
      `--edge: got ${JSON.stringify(o.edge ?? "nothing")}; allowed: the platform's edge URL (the strategy has a load-test gate), e.g. https://im.example.com`,
    );
  }
  const t = await openTarget(o);
  const track = t.canary();
  await track.preflight(svc);
  const prior = readRollout(t.stateDir, svc);
  if (prior && ACTIVE_PHASES.includes(prior.phase)) {
    throw new UserError(
      MESSAGES.rolloutInProgress(
        svc,
        prior.phase,
        `${Math.min(prior.step + 1, prior.strategy.steps.length)}/${prior.strategy.steps.length}`,
        prior.version,
      ),
    );
  }
  if (prior?.pendingAction === "abort")
    throw new UserError(
      MESSAGES.rolloutRefused(
        "start a new",
        svc,
        `the last rollout's abort did not finish: run "imctl rollout abort ${svc}"`,
      ),
    );
  const current = await track.status(svc);
  if (current.stableVersion === o.version && Object.keys(env).length === 0)
    throw new UserError(MESSAGES.rolloutSameVersion(svc, o.version));
  const now = new Date().toISOString();
  const s: RolloutState = {
    apiVersion: 1,
    id: `${now.replace(/[-:.TZ]/g, "").slice(0, 14)}-${randomBytes(3).toString("hex")}`,
    service: svc,
    target: t.kind,
    stack: resolveStack(o.stack),
    version: o.version,
    stableVersion: current.stableVersion,
    env,
    strategy,
    phase: "Pending",
    step: 0,
    canaryWeight: 0,
    measurements: [],
    timeline: [],
    startedAt: now,
    updatedAt: now,
    startedBy: who(),
  };
  // The target lock is taken before the rollout is recorded: a busy target rejects the start and changes nothing.
  const final = await t.withLock(`imctl rollout start ${svc}`, async () => {
    saveRollout(t.stateDir, s);
    audit(t.stateDir, s, "Pending", `rollout of ${svc} ${s.stableVersion} -> ${s.version} started`);
    return runController(t, s, controllerOptions(t, o, o.progress));
  });
  writeChart(t, final);
  return result(t, final);
}

function requireRollout(t: RolloutTarget, service: ServiceName): RolloutState {
  const s = readRollout(t.stateDir, service);
  if (!s) throw new UserError(MESSAGES.rolloutNone(service));
  return s;
}

export async function resume(
  service: string,
  o: TargetOptions & { progress: (line: string) => void },
): Promise<RolloutResult> {
  const svc = checkService(service);
  const t = await openTarget(o);
  const s = requireRollout(t, svc);
  if (!ACTIVE_PHASES.includes(s.phase) && s.pendingAction === undefined) throw new UserError(MESSAGES.rolloutNone(svc));
  const c = liveController(t.stateDir, svc);
  if (c) throw new UserError(MESSAGES.rolloutControllerRunning(svc, c.pid, c.since));
  audit(t.stateDir, s, "resumed", "controller restarted from the persisted state");
  const final = await runController(t, s, controllerOptions(t, o, o.progress));
  writeChart(t, final);
  return result(t, final);
}

export async function status(
  service: string,
  o: TargetOptions & { watch?: boolean; progress: (line: string) => void },
): Promise<RolloutResult> {
  const svc = checkService(service);
  const t = await openTarget(o);
  let s = requireRollout(t, svc);
  if (o.watch) {
    let last = "";
    // Bounded by the rollout itself: it ends Promoted or Aborted, or the controller goes away.
    for (;;) {
      const step = `${Math.min(s.step + 1, s.strategy.steps.length)}/${s.strategy.steps.length}`;
      const line = `${s.phase} step ${step} canary weight ${s.canaryWeight} %${s.reason ? ` (${s.reason})` : ""}`;
      if (line !== last) o.progress(`${new Date().toISOString()} ${line}`);
      last = line;
      if (!ACTIVE_PHASES.includes(s.phase) && s.pendingAction === undefined) break;
      if (!liveController(t.stateDir, svc)) {
        o.progress(
          `no controller is running: "imctl rollout resume ${svc}" continues it, "imctl rollout abort ${svc}" rolls it back`,
        );
        break;
      }
      await new Promise((r) => setTimeout(r, 1000));
      s = requireRollout(t, svc);
    }
  }
  return result(t, s);
}

async function act(
  service: string,
  o: TargetOptions,
  intent: Intent,
  progress: (line: string) => void,
): Promise<RolloutResult> {
  const svc = checkService(service);
  const t = await openTarget(o);
  const s = readRollout(t.stateDir, svc);
  if (!s || (!ACTIVE_PHASES.includes(s.phase) && !(intent.action === "abort" && s.pendingAction === "abort")))
    throw new UserError(MESSAGES.rolloutNone(svc));
  if (!(intent.action === "abort" && s.pendingAction === "abort")) {
    const e = intentEffect(s, intent);
    if (e.kind === "refuse") throw new UserError(MESSAGES.rolloutRefused(intent.action, svc, e.why));
  }
  if (liveController(t.stateDir, svc)) {
    const rec = writeIntent(t.stateDir, svc, intent);
    audit(
      t.stateDir,
      s,
      `${intent.action} requested`,
      intent.action === "promote" && intent.full ? "--full" : "",
      rec.who,
    );
    return result(t, s);
  }
  // No controller (imctl was killed): abort acts at once; promote and pause resume the controller's work later.
  if (intent.action === "abort") {
    const final = await abortDirectly(
      t,
      s,
      intent.reason ?? "aborted by an operator",
      controllerOptions(t, o, progress),
    );
    writeChart(t, final);
    return result(t, final);
  }
  writeIntent(t.stateDir, svc, intent);
  audit(
    t.stateDir,
    s,
    `${intent.action} requested`,
    `no controller running: takes effect on "imctl rollout resume ${svc}"`,
  );
  return result(t, s);
}

export const promote = (service: string, o: TargetOptions & { full?: boolean; progress: (line: string) => void }) =>
  act(service, o, { action: "promote", full: o.full ?? false }, o.progress);
export const pause = (service: string, o: TargetOptions & { progress: (line: string) => void }) =>
  act(service, o, { action: "pause" }, o.progress);
export const abort = (service: string, o: TargetOptions & { reason?: string; progress: (line: string) => void }) =>
  act(service, o, { action: "abort", ...(o.reason === undefined ? {} : { reason: o.reason }) }, o.progress);

export interface UndoResult {
  service: string;
  version: string;
}

/** Puts the stable instances back on the release before the last promotion. */
export async function undo(
  service: string,
  o: TargetOptions & { yes?: boolean; progress: (line: string) => void },
): Promise<UndoResult> {
  const svc = checkService(service);
  if (!o.yes)
    throw new UserError(
      `rollout undo replaces every stable ${svc} instance with the release before the last promotion: pass --yes to confirm`,
    );
  const t = await openTarget(o);
  t.canary().supports(svc);
  const s = readRollout(t.stateDir, svc);
  if (s && ACTIVE_PHASES.includes(s.phase))
    throw new UserError(
      MESSAGES.rolloutInProgress(svc, s.phase, `${s.step + 1}/${s.strategy.steps.length}`, s.version),
    );
  return t.withLock(`imctl rollout undo ${svc}`, async () => {
    const back = await t.canary().undo(svc, o.progress);
    if (s) audit(t.stateDir, s, "undo", `stable ${svc} back on ${back.version}`);
    return { service: svc, version: back.version };
  });
}

export interface HistoryResult {
  service: string;
  rollouts: Array<
    Pick<
      RolloutState,
      "id" | "version" | "stableVersion" | "phase" | "reason" | "startedAt" | "finishedAt" | "startedBy"
    >
  >;
  audit: AuditEntry[];
}

export async function history(service: string, o: TargetOptions): Promise<HistoryResult> {
  const svc = checkService(service);
  const t = await openTarget(o);
  const live = readRollout(t.stateDir, svc);
  const done = listHistory(t.stateDir, svc);
  const all = live && !done.some((d) => d.id === live.id) ? [...done, live] : done;
  return {
    service: svc,
    rollouts: all.map((r) => ({
      id: r.id,
      version: r.version,
      stableVersion: r.stableVersion,
      phase: r.phase,
      reason: r.reason,
      startedAt: r.startedAt,
      finishedAt: r.finishedAt,
      startedBy: r.startedBy,
    })),
    audit: readAudit(t.stateDir, svc),
  };
}

export const renderUndo = (r: UndoResult) => `${r.service}: stable instances back on ${r.version}`;
