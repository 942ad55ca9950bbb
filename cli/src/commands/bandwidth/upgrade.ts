/**
 * `imctl bandwidth upgrade` and `rollback`: the seed's procedure as a persisted state machine. Steps are data:
 * backup, shift traffic, adjust the canary instance, verify it under k6 load, adjust the rest, verify the whole tier,
 * watch. The state file is rewritten after every step, so an interrupted upgrade is resumed (`--resume`) or undone
 * (`rollback`); a failed verification or watch restores the backup by itself. The target lock is held throughout.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../errors.ts";
import { MESSAGES } from "./messages.ts";
import { pidAlive } from "../../lib/process.ts";
import type { BandwidthTarget, GatewayCap } from "../../targets/target.ts";
import { parseWindow } from "./audit.ts";
import { readPlan, type BandwidthPlan } from "./plan-file.ts";
import { appendAudit, reportDir, upgradeFile, upgradeIds } from "./store.ts";
import { charts } from "./upgrade-charts.ts";
import {
  latestUpgrade,
  loadUpgrade,
  saveUpgrade,
  stepName,
  verticalSteps,
  type UpgradePhase,
  type UpgradeState,
  type UpgradeStep,
} from "./upgrade-state.ts";
import { verify, watch } from "./upgrade-verify.ts";

export {
  latestUpgrade,
  loadUpgrade,
  stepName,
  verticalSteps,
  type Measurement,
  type StepRecord,
  type UpgradePhase,
  type UpgradeState,
  type UpgradeStep,
  type Verification,
} from "./upgrade-state.ts";

export interface UpgradeOptions {
  plan?: string;
  yes?: boolean;
  resume?: boolean;
  /** Overrides the plan's watch duration, e.g. 10m. */
  watch?: string;
  scrapeSeconds: number;
  progress?: (line: string) => void;
}

/** Checks the plan against the target as it is now; throws a UserError before anything changes. */
async function validateAgainstTarget(target: BandwidthTarget, plan: BandwidthPlan): Promise<void> {
  if (plan.change.option !== "vertical") {
    throw new UserError(
      MESSAGES.optionNotApplicable(
        plan.change.option,
        target.kind,
        "upgrade does not start gateway processes on the local target yet; raise services.gateway.replicas in the stack file and run imctl local up",
      ),
    );
  }
  if (plan.change.gateways.length === 0)
    throw new UserError(
      `change.gateways: got []; allowed: at least one gateway to change (the current caps already suffice: nothing to do)`,
    );
  const caps = await target.gatewayCaps();
  const now = new Map(caps.map((c) => [c.instance, c.bytesPerSecond]));
  for (const g of plan.change.gateways) {
    const cur = now.get(g.instance);
    if (cur === undefined) throw new UserError(MESSAGES.unknownGateway(g.instance, [...now.keys()]));
    if (cur !== g.fromBytesPerSecond) throw new UserError(MESSAGES.staleCap(g.instance, cur, g.fromBytesPerSecond));
  }
}

async function runStep(
  target: BandwidthTarget,
  st: UpgradeState,
  step: UpgradeStep,
  scrapeSeconds: number,
  say: (l: string) => void,
): Promise<{ ok: boolean; detail: string }> {
  if ("backup" in step) {
    st.backup = await target.snapshotConfig();
    writeFileSync(join(st.files.dir, "backup.json"), `${JSON.stringify(st.backup, null, 2)}\n`);
    return {
      ok: true,
      detail: `caps ${st.backup.gatewayCaps.map((c) => `${c.instance}=${c.bytesPerSecond}`).join(", ")} saved`,
    };
  }
  if ("shiftTraffic" in step) return { ok: true, detail: step.shiftTraffic.reason };
  if ("setCap" in step) {
    await target.setGatewayCap(step.setCap.instance, step.setCap.bytesPerSecond);
    return {
      ok: true,
      detail: `${step.setCap.instance} now ${step.setCap.bytesPerSecond} B/s (recorded for restarts)`,
    };
  }
  if ("verify" in step) {
    const v = await verify(target, st.plan, step.verify.stage, step.verify.instances, scrapeSeconds, say);
    st.verifications.push(v);
    const figures = v.measurements
      .map(
        (m) =>
          `${m.instance} ${m.utilisation === null ? "?" : Math.round(m.utilisation * 100)} %, p99 ${m.deliveryP99Ms ?? "?"} ms`,
      )
      .join("; ");
    return {
      ok: v.passed,
      detail: v.passed
        ? `passed: k6 lost ${v.k6?.lost ?? "?"}, p99 ${v.k6?.deliveryP99Ms?.toFixed(0) ?? "?"} ms; ${figures}`
        : `failed: ${v.reasons.join("; ")}`,
    };
  }
  const v = await watch(target, st.plan, step.watch.seconds, scrapeSeconds, say);
  st.verifications.push(v);
  return { ok: v.passed, detail: v.passed ? "no breach" : `failed: ${v.reasons.join("; ")}` };
}

async function restore(
  target: BandwidthTarget,
  st: UpgradeState,
  reason: string,
  say: (l: string) => void,
): Promise<void> {
  if (st.backup === null) {
    st.phase = "Failed";
    st.reason = `${reason}; ${MESSAGES.noBackup(st.id)}`;
    return;
  }
  say(`rollback: ${reason}; restoring the backup of ${st.backup.takenAt}`);
  await target.restoreConfig(st.backup);
  st.rollback = { reason, at: new Date().toISOString(), restored: st.backup.gatewayCaps };
  st.phase = "RolledBack";
  st.reason = reason;
  appendAudit(target.stateDir, {
    action: "rollback",
    subject: st.id,
    detail: reason,
    data: { reason, restored: st.backup.gatewayCaps },
  });
}

async function drive(
  target: BandwidthTarget,
  st: UpgradeState,
  scrapeSeconds: number,
  say: (l: string) => void,
): Promise<UpgradeState> {
  const t0 = Date.now();
  const log = (l: string) => say(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${l}`);
  while (st.phase === "Running" && st.next < st.steps.length) {
    const step = st.steps[st.next];
    if (step === undefined) break;
    const startedAt = new Date().toISOString();
    log(`step ${st.next + 1}/${st.steps.length}: ${stepName(step)}`);
    let r: { ok: boolean; detail: string };
    try {
      r = await runStep(target, st, step, scrapeSeconds, log);
    } catch (err) {
      r = { ok: false, detail: `error: ${err instanceof Error ? err.message : String(err)}` };
    }
    st.history.push({
      step,
      outcome: r.ok ? "Succeeded" : "Failed",
      startedAt,
      endedAt: new Date().toISOString(),
      detail: r.detail,
    });
    log(`step ${st.next + 1}/${st.steps.length}: ${r.ok ? "ok" : "FAILED"}: ${r.detail}`);
    appendAudit(target.stateDir, {
      action: "upgrade",
      subject: st.id,
      detail: r.detail,
      data: { step: stepName(step), outcome: r.ok ? "Succeeded" : "Failed" },
    });
    if (r.ok) {
      st.next++;
      saveUpgrade(target, st);
      continue;
    }
    try {
      await restore(target, st, `${stepName(step)} ${r.detail}`, log);
    } catch (err) {
      st.phase = "Failed";
      const why = err instanceof Error ? err.message : String(err);
      st.reason = `${stepName(step)} ${r.detail}; the rollback failed too (${why}): run imctl bandwidth rollback --yes`;
    }
    saveUpgrade(target, st);
  }
  if (st.phase === "Running") st.phase = "Succeeded";
  st.endedAt = new Date().toISOString();
  await charts(target, st, scrapeSeconds).catch((err: Error) => log(`charts: ${err.message}`));
  saveUpgrade(target, st);
  appendAudit(target.stateDir, {
    action: "upgrade",
    subject: st.id,
    detail: st.reason ?? st.phase,
    data: { phase: st.phase, reason: st.reason },
  });
  return st;
}

export async function upgrade(target: BandwidthTarget, opts: UpgradeOptions): Promise<UpgradeState> {
  const say = opts.progress ?? (() => undefined);
  if (opts.resume) {
    // The recorded upgrade carries its plan and watch; flags that would change them cannot be honoured.
    if (opts.plan !== undefined) throw new UserError(MESSAGES.resumeWith("--plan"));
    if (opts.watch !== undefined) throw new UserError(MESSAGES.resumeWith("--watch"));
    if (!opts.yes) throw new UserError(MESSAGES.confirmUpgrade);
    return target.withLock("imctl bandwidth upgrade --resume", async () => {
      const st = latestUpgrade(target);
      if (st === null || st.phase !== "Running") throw new UserError(MESSAGES.noUpgrade);
      say(`resuming ${st.id} at step ${st.next + 1}/${st.steps.length}`);
      st.pid = process.pid;
      return drive(target, st, opts.scrapeSeconds, say);
    });
  }
  if (opts.plan === undefined)
    throw new UserError(`--plan: got nothing; allowed: a plan file written by "imctl bandwidth plan" (or --resume)`);
  const plan = readPlan(opts.plan);
  const watchSeconds = parseWindow(
    opts.watch === undefined ? "watch.duration" : "--watch",
    opts.watch ?? plan.watch.duration,
  );
  if (plan.metadata.target !== target.kind)
    throw new UserError(
      `metadata.target: got "${plan.metadata.target}"; allowed: "${target.kind}" (the plan was made for another target than --stack names)`,
    );
  if (!opts.yes) throw new UserError(MESSAGES.confirmUpgrade);
  return target.withLock("imctl bandwidth upgrade", async () => {
    const prev = latestUpgrade(target);
    if (prev !== null && prev.phase === "Running" && prev.pid !== process.pid && !pidAlive(prev.pid))
      throw new UserError(MESSAGES.interruptedUpgrade(prev.id));
    await validateAgainstTarget(target, plan);
    const now = new Date();
    const id = `${now
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d+Z$/, "")
      .replace("T", "-")
      .toLowerCase()}-${plan.metadata.id}`;
    const st: UpgradeState = {
      id,
      plan,
      planFile: opts.plan ?? "",
      stack: target.stack,
      phase: "Running",
      pid: process.pid,
      startedAt: now.toISOString(),
      updatedAt: now.toISOString(),
      endedAt: null,
      steps: verticalSteps(plan, watchSeconds),
      next: 0,
      history: [],
      backup: null,
      verifications: [],
      rollback: null,
      reason: null,
      files: { dir: reportDir(target.stateDir, "upgrades-report", now), utilisationChart: null, latencyChart: null },
    };
    saveUpgrade(target, st);
    appendAudit(target.stateDir, {
      action: "upgrade",
      subject: id,
      detail: `started: ${st.steps.length} steps`,
      data: { plan: plan.metadata.id, planFile: st.planFile, steps: st.steps.map(stepName) },
    });
    say(`bandwidth upgrade ${id}: ${st.steps.length} steps (state: ${upgradeFile(target.stateDir, id)})`);
    return drive(target, st, opts.scrapeSeconds, say);
  });
}

export interface RollbackResult {
  id: string;
  phase: UpgradePhase;
  restored: GatewayCap[];
  reason: string;
}

export async function rollback(
  target: BandwidthTarget,
  opts: { yes?: boolean; id?: string; progress?: (l: string) => void },
): Promise<RollbackResult> {
  if (!opts.yes) throw new UserError(MESSAGES.confirmRollback);
  const say = opts.progress ?? (() => undefined);
  return target.withLock("imctl bandwidth rollback", async () => {
    const ids = upgradeIds(target.stateDir);
    if (opts.id !== undefined && !ids.includes(opts.id))
      throw new UserError(
        `--id: got ${JSON.stringify(opts.id)}; allowed: ${ids.join(", ") || "(no upgrades on this target)"}`,
      );
    const st = opts.id !== undefined ? loadUpgrade(target, opts.id) : latestUpgrade(target);
    if (st === null) throw new UserError(MESSAGES.noUpgrade);
    if (st.backup === null) throw new UserError(MESSAGES.noBackup(st.id));
    await restore(target, st, "rolled back by hand (imctl bandwidth rollback)", say);
    st.endedAt = new Date().toISOString();
    saveUpgrade(target, st);
    return { id: st.id, phase: st.phase, restored: st.backup.gatewayCaps, reason: st.reason ?? "" };
  });
}
