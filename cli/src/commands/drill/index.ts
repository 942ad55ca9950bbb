/**
 * imctl drill: failover drills that report recovery time and message loss.
 *
 * `run <fault>` is a persisted state machine: Pending → SteadyState → Injecting → Observing → Restoring →
 * Verifying → Passed | Failed | Aborted. It refuses an unhealthy platform (a drill on one would only measure an
 * outage it did not cause), runs the message probe (and optionally a k6 scenario) through the fault, restores the
 * platform, and checks every acknowledged message arrived once, in seq order. Ctrl-C, a broken guard metric, or an
 * outage past twice the budget restore the platform at once.
 *
 * `restore` backs the database up, destroys it, restores it, verifies row counts and checksums and reports the RTO.
 */
import { relative } from "node:path";
import { execa } from "execa";
import { UserError } from "../../errors.ts";
import { MESSAGES } from "./messages.ts";
import { renderLineChart } from "../../lib/chart.ts";
import { REPO_ROOT } from "../../../../base/root.mjs";
import { table } from "../../lib/table.ts";
import { sleep } from "../../../../base/sleep.ts";
import { SCENARIOS } from "../../../../infra/loadtest/scenarios.ts";
import { LocalTarget } from "../../targets/local/target.ts";
import { allowWrites } from "../../targets/local/backup.ts";
import { healPartition } from "../../targets/local/faults.ts";
import type { FaultHandle, TableCheck } from "../../targets/faults.ts";
import type { Target } from "../../targets/target.ts";
import { resolveStack } from "../stack.ts";
import {
  computeRecovery,
  DRILL_DEFAULTS,
  parseDuration,
  parseFault,
  timelineSeries,
  verdict,
  type DrillPhase,
  type FaultName,
  type ProbeSample,
  type RecoveryFigures,
} from "./model.ts";
import { MessageProbe } from "./probe.ts";
import { DrillStore, interruptedDrills, newDrillId } from "./state.ts";

export interface RunOptions {
  target?: string;
  stack?: string;
  duration?: string;
  load?: string;
  yes?: boolean;
  mode?: string;
  instance?: string;
  partitionSeconds?: string;
  seed?: string;
  budget?: string;
  /** A PromQL stop condition: any sample above 0 aborts the drill and restores the platform. */
  guard?: string;
  progress?: (line: string) => void;
}

export interface DrillReport {
  id: string;
  fault: FaultName;
  component: string;
  action: string;
  detail: string;
  phase: DrillPhase;
  passed: boolean;
  reasons: string[];
  /** Why an Aborted drill stopped early: Ctrl-C (exit 130) or a guard (exit 1). */
  abortedBy: "interrupt" | "guard" | null;
  budgetSeconds: number;
  detectionSeconds: number | null;
  recoverySeconds: number | null;
  impact: boolean;
  sent: number;
  acknowledged: number;
  unacknowledged: number;
  delivered: number;
  lostAcknowledged: number;
  duplicated: number;
  seqMonotonic: boolean;
  seqGaps: number;
  seed: number | null;
  observedSeconds: number;
  /** Probes that failed after the observation, while the restore restarted what the fault had stopped. */
  failedProbesDuringRestore: number;
  platform: Array<{ atSeconds: number; what: string }>;
  load: { scenario: string; exitCode: number; passed: boolean } | null;
  files: { dir: string; report: string; timeline: string };
}

const BASELINE_MS = 2000;
/** The observation ends early once every stream has been healthy this long after the fault (and past MIN_OBSERVE). */
const STABLE_MS = 5000;
const MIN_OBSERVE_MS = 8000;
const HEALTH_AFTER_RESTORE_MS = 120_000;

function targetFor(opts: { target?: string; stack?: string }): Target {
  const t = opts.target ?? "local";
  if (t === "kubernetes") throw new UserError(MESSAGES.drillKubernetes);
  if (t !== "local") throw new UserError(`--target: got ${JSON.stringify(t)}; allowed: local, kubernetes`);
  return new LocalTarget(resolveStack(opts.stack));
}

/** The steady-state check: every component healthy and every platform check passing, or one line naming the first that is not. */
async function steadyState(target: Target): Promise<void> {
  const h = await target.health();
  const c = h.components.find((x) => !x.healthy);
  if (c) throw new UserError(MESSAGES.drillUnhealthy(c.id, c.detail));
  const k = h.checks.find((x) => !x.ok);
  if (k) throw new UserError(MESSAGES.drillUnhealthy(k.name, k.detail));
}

async function waitHealthy(target: Target, timeoutMs: number): Promise<{ healthy: boolean; detail: string }> {
  const deadline = Date.now() + timeoutMs;
  let detail = "";
  for (;;) {
    const h = await target.health();
    if (h.healthy) return { healthy: true, detail: "every component healthy, every replica in sync" };
    detail = [
      ...h.components.filter((c) => !c.healthy).map((c) => `${c.id}: ${c.detail}`),
      ...h.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`),
    ].join("; ");
    if (Date.now() > deadline) return { healthy: false, detail };
    await sleep(1000);
  }
}

/** Restores what an imctl killed mid-drill left behind: heals its partition and brings the platform back. */
async function restoreInterrupted(target: Target, stack: string, say: (l: string) => void): Promise<string[]> {
  const found = interruptedDrills(target.stateDir);
  if (found.length === 0) return [];
  for (const d of found) {
    say(`drill ${d.record.id} was interrupted in ${d.record.phase} (imctl killed): restoring`);
    if (d.record.partition) await healPartition(stack, d.record.id);
    d.record.partition = false;
    d.transition("Aborted", "interrupted (its imctl is gone); restored by the next drill command");
  }
  const r = await import("../../targets/local/platform.ts");
  await r.up({ stackFile: stack, progress: say });
  // A restore drill keeps the services' writes refused while it destroys and restores the database.
  if (found.some((d) => d.record.kind === "restore")) await allowWrites(stack);
  return found.map((d) => d.record.id);
}

export async function run(faultName: string, opts: RunOptions): Promise<DrillReport> {
  const say = opts.progress ?? (() => undefined);
  // Validate everything before touching anything.
  const spec = parseFault({
    fault: faultName,
    mode: opts.mode,
    instance: opts.instance,
    duration: opts.duration,
    partitionSeconds: opts.partitionSeconds,
    seed: opts.seed,
    budget: opts.budget,
  });
  if (opts.load !== undefined && !SCENARIOS.some((s) => s.name === opts.load))
    throw new UserError(
      `--load: unknown scenario "${opts.load}": allowed are ${SCENARIOS.map((s) => s.name).join(", ")}`,
    );
  const target = targetFor(opts);
  if (opts.yes !== true) throw new UserError(MESSAGES.confirmDrill(spec.fault));
  const stack = resolveStack(opts.stack);
  const t0 = Date.now();
  const at = () => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;
  const log = (l: string) => say(`${at()} ${l}`);

  return target.withLock(`imctl drill run ${spec.fault}`, async () => {
    await restoreInterrupted(target, stack, log);
    await steadyState(target);
    const plan = await target.planFault(spec);
    const store = DrillStore.create(target.stateDir, { id: newDrillId(spec.fault), kind: "fault", fault: spec.fault });
    store.record.component = plan.component;
    store.transition("SteadyState", "every component healthy, every replica in sync");
    log(
      `drill ${store.record.id}: ${plan.detail}${spec.fault === "random-instance" ? ` (seed ${spec.seed}: --seed ${spec.seed} repeats it)` : ""}`,
    );

    const interrupt = new AbortController();
    let abortReason: string | null = null;
    let abortedBy: "interrupt" | "guard" | null = null;
    const onSigint = () => {
      abortReason = "interrupted (Ctrl-C)";
      abortedBy = "interrupt";
      interrupt.abort();
    };
    process.on("SIGINT", onSigint);
    process.on("SIGTERM", onSigint);
    let probe: MessageProbe | undefined;
    let handle: FaultHandle | undefined;
    let load: Promise<{ scenario: string; exitCode: number; passed: boolean }> | null = null;
    let injectedAt = 0;
    let observedUntil = 0;
    let restoreFailure: string | null = null;
    try {
      probe = await MessageProbe.create({
        edge: target.edge(),
        clients: DRILL_DEFAULTS.probeClients,
        intervalMs: DRILL_DEFAULTS.probeIntervalMs,
        timeoutMs: DRILL_DEFAULTS.probeTimeoutMs,
        t0,
      });
      probe.start();
      if (opts.load !== undefined) load = runLoad(opts.load, stack, spec.durationSeconds + BASELINE_MS / 1000);
      log(
        `probe: ${DRILL_DEFAULTS.probeClients} senders every ${DRILL_DEFAULTS.probeIntervalMs} ms and the account API${opts.load ? `; k6 scenario ${opts.load}` : ""}; baseline ${BASELINE_MS / 1000} s`,
      );
      await sleep(BASELINE_MS);
      const baselineFailures = probe.samples.filter((s) => s.endMs !== null && !s.ok).length;
      if (baselineFailures > 0)
        throw new UserError(
          MESSAGES.drillUnhealthy("the message probe", `${baselineFailures} probe(s) failed before any fault`),
        );
      if (interrupt.signal.aborted) throw new Error("interrupted before the injection");

      store.transition("Injecting", plan.detail);
      injectedAt = Date.now() - t0;
      // Recorded first: an imctl killed right after the rules went in leaves enough behind for the next one to heal them.
      store.record.partition = plan.action === "partition";
      store.save();
      handle = await target.injectFault(plan, store.record.id, say);
      store.transition(
        "Observing",
        `fault injected${plan.action === "restart" ? " and the database restarted" : ""}; watching for up to ${spec.durationSeconds} s`,
      );
      log(`injected: ${plan.detail}`);

      // Observe until the window ends, the platform is stable again, or a guard trips.
      const end = injectedAt + spec.durationSeconds * 1000;
      let lastGuard = 0;
      while (Date.now() - t0 < end && !interrupt.signal.aborted) {
        await sleep(250);
        const now = Date.now() - t0;
        const platformRecovered = handle.platformRecoveredAt();
        const r = computeRecovery(
          probe.samples.filter((s) => s.endMs !== null),
          probe.events,
          injectedAt,
          null,
          platformRecovered === undefined || platformRecovered === null ? platformRecovered : platformRecovered - t0,
        );
        const stuck = probe.samples.filter((s) => s.endMs === null && now - s.startMs > DRILL_DEFAULTS.probeTimeoutMs);
        const lastBad = Math.max(
          injectedAt,
          ...probe.samples.filter((s) => !s.ok && s.endMs !== null && s.startMs >= injectedAt).map((s) => s.startMs),
          ...stuck.map((s) => s.startMs),
        );
        const healed = plan.action !== "partition" || now > injectedAt + (plan.seconds ?? 0) * 1000;
        if (
          r.recoverySeconds !== null &&
          probe.allConnected() &&
          healed &&
          now - injectedAt >= MIN_OBSERVE_MS &&
          now - lastBad >= STABLE_MS
        )
          break;
        if (
          now - injectedAt > 2 * spec.budgetSeconds * 1000 + STABLE_MS &&
          r.recoverySeconds === null &&
          now - lastBad < STABLE_MS
        ) {
          abortReason = `guard: no recovery after twice the ${spec.budgetSeconds} s budget`;
          abortedBy = "guard";
          break;
        }
        if (opts.guard !== undefined && now - lastGuard >= 2000) {
          lastGuard = now;
          const tripped = await target
            .query(opts.guard)
            .then((s) => s.some((x) => x.value > 0))
            .catch(() => false);
          if (tripped) {
            abortReason = `guard: ${opts.guard} is above 0`;
            abortedBy = "guard";
            break;
          }
        }
      }
      observedUntil = Date.now() - t0;
    } finally {
      if (handle !== undefined || store.record.phase === "Injecting") {
        store.transition("Restoring", abortReason ?? "observation window over");
        log(
          `restoring${abortReason ? ` (${abortReason})` : ""}: undoing the fault, restarting what died, waiting for replicas to sync`,
        );
        try {
          await handle?.restore();
        } catch (err) {
          // The drill ends here, and says why: a probe left running would keep this process alive for good.
          probe?.close();
          const why = `the restore failed: ${err instanceof Error ? err.message : String(err)}`;
          store.transition("Failed", why);
          restoreFailure = `${why}; the platform may be degraded: \`imctl local status\` shows what is down and \`imctl local up\` restarts it`;
        }
        store.record.partition = false;
        store.save();
      }
      process.off("SIGINT", onSigint);
      process.off("SIGTERM", onSigint);
      if (handle === undefined) {
        probe?.close();
        store.transition("Aborted", abortReason ?? "stopped before the fault took effect");
      }
    }
    if (restoreFailure !== null) throw new Error(restoreFailure);
    if (probe === undefined) throw new Error("unreachable: the probe exists once the fault was injected");

    store.transition(
      "Verifying",
      "every acknowledged message delivered once, in seq order; the platform healthy again",
    );
    log("verifying: waiting for every acknowledged message to reach its receiver");
    await probe.stop();
    const figures = await probe.verify(DRILL_DEFAULTS.deliveryTimeoutSeconds * 1000);
    probe.close();
    const healthAfter = await waitHealthy(target, HEALTH_AFTER_RESTORE_MS);
    const loadResult = load ? await load : null;
    const noted = handle?.notes ?? [];
    const detecting = noted.filter((n) => n.detects === true);
    const firstNoticed = detecting.length ? Math.min(...detecting.map((n) => n.atMs - t0)) : null;
    const platformRecovered = handle?.platformRecoveredAt();
    // Recovery is judged on the observation window only: the restore restarts what the fault killed, and the
    // disruption that causes (a broker rejoining moves leaders back) is the restore's, reported apart.
    const inWindow = (s: ProbeSample) =>
      s.startMs <= observedUntil &&
      ((s.endMs ?? Infinity) <= observedUntil || s.startMs <= observedUntil - DRILL_DEFAULTS.probeTimeoutMs);
    const recovery = computeRecovery(
      probe.samples.filter(inWindow),
      probe.events.filter((e) => e.atMs <= observedUntil),
      injectedAt,
      firstNoticed,
      platformRecovered === undefined || platformRecovered === null ? platformRecovered : platformRecovered - t0,
    );
    const failedDuringRestore = probe.samples.filter((s) => !inWindow(s) && !s.ok).length;
    const v = verdict(spec.fault, spec.budgetSeconds, recovery, figures, healthAfter.healthy);
    if (!healthAfter.healthy) v.reasons.push(`still unhealthy: ${healthAfter.detail}`);
    const phase: DrillPhase = abortReason !== null ? "Aborted" : v.passed ? "Passed" : "Failed";
    const passed = phase === "Passed";
    const reasons = abortReason !== null ? [abortReason, ...v.reasons] : v.reasons;

    const timeline = store.writeFile(
      "timeline.svg",
      timelineSvg(
        spec.fault,
        probe,
        injectedAt,
        recovery,
        observedUntil,
        noted.map((n) => ({ atMs: n.atMs - t0, what: n.what })),
      ),
    );
    const report: DrillReport = {
      id: store.record.id,
      fault: spec.fault,
      component: plan.component,
      action: plan.action,
      detail: plan.detail,
      phase,
      passed,
      reasons,
      abortedBy,
      budgetSeconds: spec.budgetSeconds,
      ...recovery,
      ...figures,
      seed: spec.fault === "random-instance" ? spec.seed : null,
      observedSeconds: (observedUntil - injectedAt) / 1000,
      failedProbesDuringRestore: failedDuringRestore,
      platform: noted.map((n) => ({ atSeconds: (n.atMs - t0 - injectedAt) / 1000, what: n.what })),
      load: loadResult,
      files: { dir: store.dir, report: `${store.dir}/report.json`, timeline },
    };
    store.writeFile("report.json", `${JSON.stringify(report, null, 2)}\n`);
    // Every probe attempt and connection event, for anyone who wants to redraw or re-judge the run.
    store.writeFile(
      "probe.json",
      JSON.stringify({ injectedAtMs: injectedAt, samples: probe.samples, events: probe.events }),
    );
    store.transition(phase, passed ? "hypothesis held" : reasons.join("; "));
    return report;
  });
}

/** k6 alongside the drill, through imctl's own loadtest command (its verdict is reported, not the drill's). */
async function runLoad(
  scenario: string,
  stack: string,
  seconds: number,
): Promise<{ scenario: string; exitCode: number; passed: boolean }> {
  const r = await execa(
    process.execPath,
    [
      `${REPO_ROOT}/cli/bin/imctl.mjs`,
      "loadtest",
      "run",
      scenario,
      "--stack",
      stack,
      "--duration",
      `${Math.ceil(seconds)}s`,
      "--json",
    ],
    { reject: false, stdin: "ignore" },
  );
  return { scenario, exitCode: r.exitCode ?? -1, passed: r.exitCode === 0 };
}

function timelineSvg(
  fault: string,
  probe: MessageProbe,
  injectedAt: number,
  r: RecoveryFigures,
  observedUntil: number,
  notes: Array<{ atMs: number; what: string }>,
): string {
  const { success, latency } = timelineSeries(probe.samples);
  const s = (ms: number) => ms / 1000;
  const markers = [{ x: s(injectedAt), label: "fault injected" }];
  if (r.detectionSeconds !== null)
    markers.push({ x: s(injectedAt) + r.detectionSeconds, label: `detected +${r.detectionSeconds.toFixed(1)} s` });
  if (r.recoverySeconds !== null && r.impact)
    markers.push({ x: s(injectedAt) + r.recoverySeconds, label: `recovered +${r.recoverySeconds.toFixed(1)} s` });
  markers.push({ x: s(observedUntil), label: "restore" });
  for (const n of notes.slice(0, 4)) markers.push({ x: s(n.atMs), label: n.what.slice(0, 40) });
  return renderLineChart({
    title: `imctl drill run ${fault}: probe success and slowest acknowledgement per second`,
    xLabel: "seconds since the drill started",
    yLabel: "probe success (%) · slowest ack (s × 10)",
    series: [
      { name: "probe success %", points: success },
      { name: "slowest ack, s × 10", points: latency.map(([x, y]) => [x, Math.min(100, y * 10)]) },
    ],
    markers,
  });
}

const secs = (v: number | null) => (v === null ? "never" : `${v.toFixed(1)} s`);

export function renderRun(r: DrillReport): string {
  const rows: string[][] = [
    ["fault", `${r.fault}: ${r.detail}`],
    ["verdict", r.passed ? "PASSED" : `${r.phase.toUpperCase()}: ${r.reasons.join("; ")}`],
    ["detection", secs(r.detectionSeconds)],
    [
      "recovery",
      `${r.impact || r.recoverySeconds !== 0 ? secs(r.recoverySeconds) : "0.0 s (no probe noticed the fault)"} (budget ${r.budgetSeconds} s)`,
    ],
    ["messages", `${r.sent} sent, ${r.acknowledged} acknowledged, ${r.delivered} delivered`],
    ["lost (acknowledged)", String(r.lostAcknowledged)],
    ["duplicated", String(r.duplicated)],
    ["seq", `${r.seqMonotonic ? "monotonic" : "WENT BACKWARDS"} for every receiver, ${r.seqGaps} gap(s)`],
    ["restore", `${r.failedProbesDuringRestore} probe(s) failed while the restore restarted what the fault stopped`],
  ];
  if (r.seed !== null) rows.push(["seed", `${r.seed} (--seed ${r.seed} picks ${r.component} again)`]);
  if (r.load)
    rows.push(["load", `k6 ${r.load.scenario}: ${r.load.passed ? "thresholds held" : `exit ${r.load.exitCode}`}`]);
  const platform = r.platform.map((p) => `  +${p.atSeconds.toFixed(1)} s  ${p.what}`);
  return [
    table(["", ""], rows),
    ...(platform.length ? ["", "platform:", ...platform] : []),
    "",
    `timeline: ${relative(REPO_ROOT, r.files.timeline) || r.files.timeline}`,
    `report:   ${relative(REPO_ROOT, r.files.report) || r.files.report}`,
  ].join("\n");
}

export interface RestoreOptions {
  target?: string;
  stack?: string;
  yes?: boolean;
  budget?: string;
  progress?: (line: string) => void;
}

export interface RestoreReport {
  id: string;
  passed: boolean;
  reasons: string[];
  database: string;
  rtoSeconds: number;
  rtoBudgetSeconds: number;
  backupSeconds: number;
  restoreSeconds: number;
  backupBytes: number;
  backupFile: string;
  tables: TableCheck[];
  files: { dir: string; report: string };
}

/** Seed: restore with an RTO under 15 minutes. */
export const RESTORE_RTO_BUDGET_SECONDS = 900;

export async function restore(opts: RestoreOptions): Promise<RestoreReport> {
  const say = opts.progress ?? (() => undefined);
  const budget = opts.budget === undefined ? RESTORE_RTO_BUDGET_SECONDS : parseDuration("--budget", opts.budget);
  const target = targetFor(opts);
  if (opts.yes !== true) throw new UserError(MESSAGES.confirmRestoreDrill);
  const stack = resolveStack(opts.stack);
  const t0 = Date.now();
  const log = (l: string) => say(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${l}`);
  return target.withLock("imctl drill restore", async () => {
    await restoreInterrupted(target, stack, log);
    await steadyState(target);
    const store = DrillStore.create(target.stateDir, {
      id: newDrillId("restore"),
      kind: "restore",
      fault: "database-restore",
    });
    store.record.component = "database";
    store.transition("SteadyState", "every component healthy, every replica in sync");
    store.transition("Injecting", "backup, then DROP DATABASE, then restore from the backup");
    const r = await target.databaseRestoreDrill(log);
    store.transition("Verifying", `restored; ${r.tables.length} tables checked`);
    const reasons = [
      ...r.tables
        .filter((t) => !t.ok)
        .map(
          (t) =>
            `${t.table}: ${t.rowsAfter} rows (checksum ${t.checksumAfter}) after, ${t.rowsBefore} (${t.checksumBefore}) in the backup`,
        ),
      ...(r.rtoSeconds > budget ? [`RTO ${r.rtoSeconds.toFixed(1)} s is over the ${budget} s budget`] : []),
    ];
    const healthAfter = await waitHealthy(target, HEALTH_AFTER_RESTORE_MS);
    if (!healthAfter.healthy) reasons.push(`the platform is not healthy after the restore: ${healthAfter.detail}`);
    const report: RestoreReport = {
      id: store.record.id,
      passed: reasons.length === 0,
      reasons,
      database: r.database,
      rtoSeconds: r.rtoSeconds,
      rtoBudgetSeconds: budget,
      backupSeconds: r.backupSeconds,
      restoreSeconds: r.restoreSeconds,
      backupBytes: r.backupBytes,
      backupFile: r.backupFile,
      tables: r.tables,
      files: { dir: store.dir, report: `${store.dir}/report.json` },
    };
    store.writeFile("report.json", `${JSON.stringify(report, null, 2)}\n`);
    store.transition(
      report.passed ? "Passed" : "Failed",
      report.passed ? `RTO ${r.rtoSeconds.toFixed(1)} s, every table verified` : reasons.join("; "),
    );
    return report;
  });
}

export function renderRestore(r: RestoreReport): string {
  return [
    table(
      ["TABLE", "ROWS (BACKUP)", "ROWS (RESTORED)", "CHECKSUM", "OK"],
      r.tables.map((t) => [
        t.table,
        String(t.rowsBefore),
        String(t.rowsAfter),
        t.checksumAfter === t.checksumBefore ? t.checksumAfter : `${t.checksumBefore} → ${t.checksumAfter}`,
        t.ok ? "yes" : "NO",
      ]),
    ),
    "",
    `backup:  ${(r.backupBytes / 1024).toFixed(0)} KiB in ${r.backupSeconds.toFixed(1)} s (${relative(REPO_ROOT, r.backupFile) || r.backupFile})`,
    `RTO:     ${r.rtoSeconds.toFixed(1)} s from DROP DATABASE to verified data (budget ${r.rtoBudgetSeconds} s; the restore itself ${r.restoreSeconds.toFixed(1)} s)`,
    `verdict: ${r.passed ? "PASSED" : `FAILED: ${r.reasons.join("; ")}`}`,
    `report:  ${relative(REPO_ROOT, r.files.report) || r.files.report}`,
  ].join("\n");
}
