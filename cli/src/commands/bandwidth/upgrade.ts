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
import { renderLineChart } from "../../lib/chart.ts";
import { pidAlive } from "../../lib/process.ts";
import { sleep } from "../../../../base/sleep.ts";
import type { BandwidthTarget as Target, ConfigSnapshot, GatewayCap } from "../../targets/target.ts";
import { loadtestFailure, run as runLoadtest, type LoadtestResult } from "../loadtest/index.ts";
import { queries, parseWindow } from "./audit.ts";
import { readPlan, type BandwidthPlan } from "./plan-file.ts";
import { appendAudit, readJson, reportDir, upgradeFile, upgradeIds, writeJsonAtomic } from "./store.ts";

export type UpgradePhase = "Running" | "Succeeded" | "RolledBack" | "Failed";

export type UpgradeStep =
  | { backup: Record<string, never> }
  | { shiftTraffic: { reason: string } }
  | { setCap: { instance: string; bytesPerSecond: number } }
  | { verify: { stage: "canary" | "full"; instances: string[] } }
  | { watch: { seconds: number } };

export interface Measurement {
  instance: string;
  /** Peak egress / cap during the verification load. */
  utilisation: number | null;
  /** The instance's own delivery latency p99 over the load, in ms (null: no deliveries through it). */
  deliveryP99Ms: number | null;
}

export interface Verification {
  stage: "canary" | "full" | "watch";
  passed: boolean;
  reasons: string[];
  k6: {
    passed: boolean;
    lost: number;
    requestErrors: number;
    deliveryP99Ms: number | null;
    sent: number;
    received: number;
    failedThresholds: string[];
    summary: string;
  } | null;
  measurements: Measurement[];
}

export interface StepRecord {
  step: UpgradeStep;
  outcome: "Succeeded" | "Failed";
  startedAt: string;
  endedAt: string;
  detail: string;
}

export interface UpgradeState {
  id: string;
  plan: BandwidthPlan;
  planFile: string;
  stack: string;
  phase: UpgradePhase;
  pid: number;
  startedAt: string;
  updatedAt: string;
  endedAt: string | null;
  steps: UpgradeStep[];
  /** Index of the next step to run. */
  next: number;
  history: StepRecord[];
  backup: ConfigSnapshot | null;
  verifications: Verification[];
  rollback: { reason: string; at: string; restored: GatewayCap[] } | null;
  reason: string | null;
  files: { dir: string; utilisationChart: string | null; latencyChart: string | null };
}

export interface UpgradeOptions {
  plan?: string;
  yes?: boolean;
  resume?: boolean;
  /** Overrides the plan's watch duration, e.g. 10m. */
  watch?: string;
  scrapeSeconds: number;
  progress?: (line: string) => void;
}

export const stepName = (s: UpgradeStep): string =>
  "backup" in s
    ? "backup"
    : "shiftTraffic" in s
      ? "shift traffic"
      : "setCap" in s
        ? `adjust ${s.setCap.instance} to ${s.setCap.bytesPerSecond} B/s`
        : "verify" in s
          ? `verify (${s.verify.stage}: ${s.verify.instances.join(", ")})`
          : `watch ${s.watch.seconds} s`;

/** The steps of a vertical upgrade: the first gateway is the canary; the others follow once it verifies. */
export function verticalSteps(plan: BandwidthPlan, watchSeconds: number): UpgradeStep[] {
  if (plan.change.option !== "vertical") return [];
  const g = plan.change.gateways;
  const [canary, ...rest] = g;
  if (canary === undefined) return [];
  return [
    { backup: {} },
    // Caps change in place on the instance that holds the connections: nothing has to move, so no client reconnects.
    { shiftTraffic: { reason: "not needed: egress caps change in place without moving connections" } },
    { setCap: { instance: canary.instance, bytesPerSecond: canary.toBytesPerSecond } },
    { verify: { stage: "canary", instances: [canary.instance] } },
    ...rest.map((x): UpgradeStep => ({ setCap: { instance: x.instance, bytesPerSecond: x.toBytesPerSecond } })),
    { verify: { stage: "full", instances: g.map((x) => x.instance) } },
    { watch: { seconds: watchSeconds } },
  ];
}

function save(target: Target, st: UpgradeState): void {
  st.updatedAt = new Date().toISOString();
  writeJsonAtomic(upgradeFile(target.stateDir, st.id), st);
}

export function loadUpgrade(target: Target, id: string): UpgradeState {
  return readJson(upgradeFile(target.stateDir, id)) as UpgradeState;
}

/** The most recent upgrade on this target, if any. */
export function latestUpgrade(target: Target): UpgradeState | null {
  const ids = upgradeIds(target.stateDir);
  const id = ids[ids.length - 1];
  return id === undefined ? null : loadUpgrade(target, id);
}

/** Checks the plan against the target as it is now; throws a UserError before anything changes. */
async function validateAgainstTarget(target: Target, plan: BandwidthPlan): Promise<void> {
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

const rateWindow = (scrapeSeconds: number) => 4 * scrapeSeconds;

/**
 * Waits (bounded) until the instances' egress queues are empty: the backlog built up behind the old cap drains at
 * the new one, and a verification started before that would measure the catch-up, not the new steady state.
 */
async function drained(
  target: Target,
  instances: string[],
  scrapeSeconds: number,
  say: (l: string) => void,
): Promise<void> {
  const deadline = Date.now() + 120_000;
  const sel = instances.map((i) => i.replace(/[^a-z0-9-]/g, "")).join("|");
  for (;;) {
    await sleep((scrapeSeconds + 1) * 1000);
    const r = await target.query(`sum(im_gateway_egress_queued_bytes{service="gateway",component=~"${sel}"})`);
    const queued = r[0]?.value ?? 0;
    if (queued === 0) return;
    if (Date.now() > deadline) {
      say(`verify: ${Math.round(queued / 1024)} KiB still queued behind the caps after 120 s; verifying anyway`);
      return;
    }
    say(`verify: waiting for ${Math.round(queued / 1024)} KiB queued behind the old caps to drain`);
  }
}

/** Peak utilisation over [startUnix, endUnix] and delivery p99 over [latencyFromUnix, now] of each instance. */
async function measure(
  target: Target,
  instances: string[],
  startUnix: number,
  endUnix: number,
  scrapeSeconds: number,
  latencyFromUnix = startUnix,
): Promise<Measurement[]> {
  const dur = Math.max(Math.floor(Date.now() / 1000) - latencyFromUnix, 2 * scrapeSeconds);
  const step = scrapeSeconds;
  const util = await target.queryRange(
    queries(Math.max(rateWindow(scrapeSeconds), 2 * step)).utilisation,
    startUnix,
    endUnix,
    step,
  );
  return Promise.all(
    instances.map(async (instance) => {
      const pts =
        util
          .find((s) => s.labels.component === instance)
          ?.points.map(([, v]) => v)
          .filter(Number.isFinite) ?? [];
      const lat = await target.query(
        `histogram_quantile(0.99, sum by (le) (increase(im_delivery_latency_seconds_bucket{service="gateway",component="${instance}"}[${Math.ceil(dur)}s])))`,
      );
      const v = lat[0]?.value;
      return {
        instance,
        utilisation: pts.length ? Math.max(...pts) : null,
        deliveryP99Ms: v !== undefined && Number.isFinite(v) ? Math.round(v * 1000 * 10) / 10 : null,
      };
    }),
  );
}

function k6Figures(r: LoadtestResult): NonNullable<Verification["k6"]> {
  const f = r.figures;
  return {
    passed: r.passed,
    lost: f.lost,
    requestErrors: f.requestErrors,
    deliveryP99Ms: f.deliveryP99Ms,
    sent: f.sent,
    received: f.received,
    failedThresholds: r.failedThresholds,
    summary: r.files.summary,
  };
}

/**
 * One verification: the plan's k6 scenario through the edge, then each changed instance's own figures from
 * Prometheus. The canary stage judges the canary (no loss, no request errors, its utilisation and its p99); the
 * other instances may still be saturated then. The full stage also needs every k6 threshold.
 */
async function verify(
  target: Target,
  plan: BandwidthPlan,
  stage: "canary" | "full",
  instances: string[],
  scrapeSeconds: number,
  say: (l: string) => void,
): Promise<Verification> {
  const v = plan.verify;
  await drained(target, instances, scrapeSeconds, say);
  const t0 = Math.floor(Date.now() / 1000);
  const r = await runLoadtest(v.scenario, {
    target: target.edge().http,
    vus: v.vus,
    rate: v.rate,
    duration: v.duration,
    maxP99: v.maxP99Ms,
    env: v.env,
    progress: say,
  });
  // One more scrape, so the last seconds of the load are in Prometheus.
  await sleep((scrapeSeconds + 1) * 1000);
  const t1 = Math.floor(Date.now() / 1000);
  // Utilisation from one rate window into the load on: the window before it would still see the old cap.
  const measurements = await measure(
    target,
    instances,
    Math.min(t1 - scrapeSeconds, t0 + rateWindow(scrapeSeconds)),
    t1,
    scrapeSeconds,
    t0,
  );
  const reasons: string[] = [];
  if (r.figures.lost > 0)
    reasons.push(
      `k6 lost ${r.figures.lost} message(s) (sent ${r.figures.sent}, received ${r.figures.received}, reconnects ${r.figures.reconnects}, request errors ${r.figures.requestErrors})`,
    );
  if (r.figures.requestErrors > 0) reasons.push(`k6 saw ${r.figures.requestErrors} request error(s)`);
  if (r.figures.scriptErrors > 0) reasons.push(`${r.figures.scriptErrors} k6 VU(s) stopped by an uncaught exception`);
  else if (stage === "full" && !r.passed) reasons.push(`k6 run failed: ${loadtestFailure(r)}`);
  for (const m of measurements) {
    if (m.utilisation === null || m.deliveryP99Ms === null)
      reasons.push(`${m.instance}: no measurement under the verification load (no traffic reached it): inconclusive`);
    else {
      if (m.utilisation > v.maxUtilisation)
        reasons.push(
          `${m.instance}: utilisation ${Math.round(m.utilisation * 100)} % > ${Math.round(v.maxUtilisation * 100)} %`,
        );
      if (m.deliveryP99Ms > v.maxP99Ms)
        reasons.push(`${m.instance}: delivery p99 ${m.deliveryP99Ms} ms > ${v.maxP99Ms} ms`);
    }
  }
  return { stage, passed: reasons.length === 0, reasons, k6: k6Figures(r), measurements };
}

/** Watches the changed instances for `seconds`; two breaching polls in a row fail it (one is noise). */
async function watch(
  target: Target,
  plan: BandwidthPlan,
  seconds: number,
  scrapeSeconds: number,
  say: (l: string) => void,
): Promise<Verification> {
  const instances = plan.change.option === "vertical" ? plan.change.gateways.map((g) => g.instance) : [];
  const deadline = Date.now() + seconds * 1000;
  const interval = Math.max(scrapeSeconds, 5) * 1000;
  let strikes = 0;
  let last: Measurement[] = [];
  const reasons: string[] = [];
  while (Date.now() < deadline) {
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
    const t1 = Math.floor(Date.now() / 1000);
    last = await measure(target, instances, t1 - 4 * scrapeSeconds, t1, scrapeSeconds);
    const bad = last.flatMap((m) => [
      ...(m.utilisation !== null && m.utilisation > plan.verify.maxUtilisation
        ? [`${m.instance}: utilisation ${Math.round(m.utilisation * 100)} %`]
        : []),
      ...(m.deliveryP99Ms !== null && m.deliveryP99Ms > plan.verify.maxP99Ms
        ? [`${m.instance}: delivery p99 ${m.deliveryP99Ms} ms`]
        : []),
    ]);
    strikes = bad.length > 0 ? strikes + 1 : 0;
    say(
      `watch: ${Math.max(0, Math.round((deadline - Date.now()) / 1000))} s left${bad.length ? `; breaching: ${bad.join(", ")}` : "; within bounds"}`,
    );
    if (strikes >= 2) {
      reasons.push(...bad);
      break;
    }
  }
  return { stage: "watch", passed: reasons.length === 0, reasons, k6: null, measurements: last };
}

async function runStep(
  target: Target,
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

async function restore(target: Target, st: UpgradeState, reason: string, say: (l: string) => void): Promise<void> {
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
    command: "bandwidth rollback",
    upgrade: st.id,
    reason,
    restored: st.backup.gatewayCaps,
  });
}

async function drive(
  target: Target,
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
      command: "bandwidth upgrade",
      upgrade: st.id,
      step: stepName(step),
      outcome: r.ok ? "Succeeded" : "Failed",
      detail: r.detail,
    });
    if (r.ok) {
      st.next++;
      save(target, st);
      continue;
    }
    try {
      await restore(target, st, `${stepName(step)} ${r.detail}`, log);
    } catch (err) {
      st.phase = "Failed";
      st.reason = `${stepName(step)} ${r.detail}; the rollback failed too (${err instanceof Error ? err.message : String(err)}): run imctl bandwidth rollback --yes`;
    }
    save(target, st);
  }
  if (st.phase === "Running") st.phase = "Succeeded";
  st.endedAt = new Date().toISOString();
  await charts(target, st, scrapeSeconds).catch((err: Error) => log(`charts: ${err.message}`));
  save(target, st);
  appendAudit(target.stateDir, { command: "bandwidth upgrade", upgrade: st.id, phase: st.phase, reason: st.reason });
  return st;
}

/** Utilisation and delivery latency over the upgrade, as two pictures beside the state file. */
async function charts(target: Target, st: UpgradeState, scrapeSeconds: number): Promise<void> {
  const start = Math.floor(Date.parse(st.startedAt) / 1000) - 120;
  const end = Math.floor(Date.now() / 1000);
  const step = Math.max(scrapeSeconds, Math.ceil((end - start) / 300));
  const q = queries(Math.max(4 * scrapeSeconds, 2 * step));
  const [util, lat] = await Promise.all([
    target.queryRange(q.utilisation, start, end, step),
    target.queryRange(q.latencyP99, start, end, step),
  ]);
  const x = (t: number) => (t - start) / 60;
  const utilisationChart = join(st.files.dir, "utilisation.svg");
  writeFileSync(
    utilisationChart,
    renderLineChart({
      title: `bandwidth upgrade ${st.id}: gateway egress utilisation (${st.phase})`,
      xLabel: `minutes since ${new Date(start * 1000).toISOString().slice(11, 19)}Z`,
      yLabel: "egress / cap (%)",
      series: util.map((s) => ({
        name: s.labels.component ?? "?",
        points: s.points.filter(([, v]) => Number.isFinite(v)).map(([t, v]) => [x(t), v * 100] as [number, number]),
      })),
      rules: [
        { y: st.plan.verify.maxUtilisation * 100, label: `${Math.round(st.plan.verify.maxUtilisation * 100)} % line` },
      ],
    }),
  );
  const latencyChart = join(st.files.dir, "latency.svg");
  writeFileSync(
    latencyChart,
    renderLineChart({
      title: `bandwidth upgrade ${st.id}: delivery latency p99 at the gateways`,
      xLabel: `minutes since ${new Date(start * 1000).toISOString().slice(11, 19)}Z`,
      yLabel: "p99 (ms)",
      series: lat.map((s) => ({
        name: "p99",
        points: s.points.filter(([, v]) => Number.isFinite(v)).map(([t, v]) => [x(t), v * 1000] as [number, number]),
      })),
      rules: [{ y: st.plan.verify.maxP99Ms, label: `verify bound ${st.plan.verify.maxP99Ms} ms` }],
    }),
  );
  st.files.utilisationChart = utilisationChart;
  st.files.latencyChart = latencyChart;
}

export async function upgrade(target: Target, opts: UpgradeOptions): Promise<UpgradeState> {
  const say = opts.progress ?? (() => undefined);
  if (opts.resume) {
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
    save(target, st);
    appendAudit(target.stateDir, {
      command: "bandwidth upgrade",
      upgrade: id,
      plan: plan.metadata.id,
      planFile: st.planFile,
      steps: st.steps.map(stepName),
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
  target: Target,
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
    save(target, st);
    return { id: st.id, phase: st.phase, restored: st.backup.gatewayCaps, reason: st.reason ?? "" };
  });
}
