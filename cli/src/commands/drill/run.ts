/**
 * `imctl drill run <fault>`: one function per phase of the persisted state machine (`DrillPhase`):
 * SteadyState → Injecting → Observing → Restoring → Verifying → Passed | Failed | Aborted. The drill refuses an
 * unhealthy platform, runs the message probe (and optionally a k6 scenario) through the fault, restores the
 * platform, and checks every acknowledged message arrived once, in seq order. Ctrl-C, a --guard above 0 or one
 * that cannot be read (guard.ts: fail safe), or an outage past twice the budget restore the platform at once.
 */
import { execa } from "execa";
import { UserError } from "../../errors.ts";
import { MESSAGES } from "./messages.ts";
import { REPO_ROOT } from "../../../../base/root.mjs";
import { sleep } from "../../../../base/sleep.ts";
import { SCENARIOS } from "../../../../infra/loadtest/scenarios.ts";
import { requireFaultOn, type FaultHandle, type FaultPlan } from "../../targets/faults.ts";
import type { DrillTarget } from "../../targets/target.ts";
import {
  computeRecovery,
  DRILL_DEFAULTS,
  parseFault,
  verdict,
  type DrillPhase,
  type FaultRequest,
  type FaultSpec,
  type ProbeSample,
  type RecoveryFigures,
} from "./model.ts";
import { GuardWatch, readGuard } from "./guard.ts";
import { MessageProbe } from "./probe.ts";
import { timelineSvg } from "./render.ts";
import type { DrillReport, LoadResult } from "./report.ts";
import { DrillStore, newDrillId } from "./state.ts";
import {
  HEALTH_AFTER_RESTORE_MS,
  openDrill,
  restoreInterrupted,
  steadyState,
  timedLog,
  waitHealthy,
} from "./steady-state.ts";

/** `imctl drill run`'s options: the fault's own (model.ts FaultRequest) and the run's. */
export interface RunOptions extends Omit<FaultRequest, "fault"> {
  target?: string;
  stack?: string;
  load?: string;
  yes?: boolean;
  /** A PromQL stop condition: any sample above 0 aborts the drill and restores the platform. */
  guard?: string;
  progress?: (line: string) => void;
}

const BASELINE_MS = 2000;
/** The observation ends early once every stream has been healthy this long after the fault (and past MIN_OBSERVE). */
const STABLE_MS = 5000;
const MIN_OBSERVE_MS = 8000;

/** What the verification found, before it is written down. */
interface Judgement {
  figures: Awaited<ReturnType<MessageProbe["verify"]>>;
  recovery: RecoveryFigures;
  failedDuringRestore: number;
  phase: DrillPhase;
  reasons: string[];
}

export type { DrillReport } from "./report.ts";

export async function run(faultName: string, opts: RunOptions): Promise<DrillReport> {
  // Validate everything before touching anything.
  const opened = openDrill(opts);
  const spec = parseFault(
    {
      fault: faultName,
      mode: opts.mode,
      instance: opts.instance,
      duration: opts.duration,
      partitionSeconds: opts.partitionSeconds,
      seed: opts.seed,
      budget: opts.budget,
      percent: opts.percent,
      workload: opts.workload,
      force: opts.force,
      zone: opts.zone,
      from: opts.from,
      to: opts.to,
    },
    opened.kind,
  );
  requireFaultOn(opened.kind, spec);
  if (opts.load !== undefined && !SCENARIOS.some((s) => s.name === opts.load))
    throw new UserError(
      `--load: unknown scenario "${opts.load}": allowed are ${SCENARIOS.map((s) => s.name).join(", ")}`,
    );
  const target = await opened.drill();
  // An instance that does not exist on this stack is refused as such, not only for a missing --yes.
  target.checkFault(spec);
  if (opts.yes !== true) throw new UserError(MESSAGES.confirmDrill(spec.fault));
  const drill = new FaultDrill(target, spec, opts);
  return target.withLock(`imctl drill run ${spec.fault}`, () => drill.run());
}

/** One fault drill: the state its phases share, and one method per phase. */
class FaultDrill {
  private readonly t0 = Date.now();
  private readonly log: (line: string) => void;
  private readonly say: (line: string) => void;
  private readonly interrupt = new AbortController();
  private abortReason: string | null = null;
  private abortedBy: "interrupt" | "guard" | null = null;
  private probe: MessageProbe | undefined;
  private handle: FaultHandle | undefined;
  private load: Promise<LoadResult> | null = null;
  private injectedAt = 0;
  private observedUntil = 0;

  constructor(
    private readonly target: DrillTarget,
    private readonly spec: FaultSpec,
    private readonly opts: RunOptions,
  ) {
    this.say = opts.progress ?? (() => undefined);
    this.log = timedLog(this.say, this.t0);
  }

  private readonly onSignal = (): void => {
    this.abortReason = "interrupted (Ctrl-C)";
    this.abortedBy = "interrupt";
    this.interrupt.abort();
  };

  private now(): number {
    return Date.now() - this.t0;
  }

  async run(): Promise<DrillReport> {
    await restoreInterrupted(this.target, this.log);
    const { store, plan } = await this.steadyState();
    process.on("SIGINT", this.onSignal);
    process.on("SIGTERM", this.onSignal);
    let restoreFailure: string | null = null;
    try {
      const probe = await this.baseline(plan);
      const handle = await this.inject(store, plan);
      await this.observe(probe, handle, plan);
      this.observedUntil = this.now();
    } finally {
      if (this.handle !== undefined || store.record.phase === "Injecting") restoreFailure = await this.restore(store);
      process.off("SIGINT", this.onSignal);
      process.off("SIGTERM", this.onSignal);
      if (this.handle === undefined) {
        this.probe?.close();
        store.transition("Aborted", this.abortReason ?? "stopped before the fault took effect");
      }
    }
    if (restoreFailure !== null) throw new Error(restoreFailure);
    if (this.probe === undefined) throw new Error("unreachable: the probe exists once the fault was injected");
    const judgement = await this.verify(store, this.probe);
    return this.report(store, plan, this.probe, judgement);
  }

  /** SteadyState: a healthy platform, the fault resolved against it, the drill recorded. */
  private async steadyState(): Promise<{ store: DrillStore; plan: FaultPlan }> {
    const { spec } = this;
    await steadyState(this.target);
    // A guard that cannot be read is refused before anything changes (one above 0 stops the drill once it runs).
    const guard = this.opts.guard === undefined ? null : await readGuard(this.target, this.opts.guard);
    if (guard?.state === "unreadable") throw new UserError(guard.reason);
    const plan = await this.target.planFault(spec);
    const store = DrillStore.create(this.target.stateDir, {
      id: newDrillId(spec.fault),
      kind: "fault",
      fault: spec.fault,
    });
    store.record.component = plan.component;
    store.transition("SteadyState", "every component healthy, every replica in sync");
    const seeded = plan.seed !== undefined || spec.fault === "random-instance";
    const repeat = seeded ? ` (seed ${spec.seed}: --seed ${spec.seed} repeats it)` : "";
    this.log(`drill ${store.record.id}: ${plan.detail}${repeat}`);
    return { store, plan };
  }

  /** Still SteadyState: the probe (and k6) running, and every probe passing, before any fault. */
  private async baseline(plan: FaultPlan): Promise<MessageProbe> {
    const { opts } = this;
    if (plan.probeUnavailable !== undefined) {
      this.probe = MessageProbe.idle(this.t0);
      this.log(`probe: not run: ${plan.probeUnavailable}`);
      return this.probe;
    }
    const probe = await MessageProbe.create({
      edge: this.target.edge(),
      clients: DRILL_DEFAULTS.probeClients,
      intervalMs: DRILL_DEFAULTS.probeIntervalMs,
      timeoutMs: DRILL_DEFAULTS.probeTimeoutMs,
      t0: this.t0,
    });
    this.probe = probe;
    probe.start();
    if (opts.load !== undefined)
      this.load = runLoad(opts.load, this.target.stack, this.spec.durationSeconds + BASELINE_MS / 1000);
    const senders = `${DRILL_DEFAULTS.probeClients} senders every ${DRILL_DEFAULTS.probeIntervalMs} ms`;
    const k6 = opts.load ? `; k6 scenario ${opts.load}` : "";
    this.log(`probe: ${senders} and the account API${k6}; baseline ${BASELINE_MS / 1000} s`);
    await sleep(BASELINE_MS);
    const baselineFailures = probe.samples.filter((s) => s.endMs !== null && !s.ok).length;
    if (baselineFailures > 0)
      throw new UserError(
        MESSAGES.drillUnhealthy(
          "the message probe",
          `${baselineFailures} probe(s) failed before any fault`,
          this.target.kind,
        ),
      );
    if (this.interrupt.signal.aborted) throw new Error("interrupted before the injection");
    return probe;
  }

  /** Injecting, then Observing once the fault is in. */
  private async inject(store: DrillStore, plan: FaultPlan): Promise<FaultHandle> {
    store.transition("Injecting", plan.detail);
    this.injectedAt = this.now();
    // Recorded first: an imctl killed right after the rules went in leaves enough behind for the next one to heal them.
    store.record.partition = plan.action === "partition";
    store.save();
    const handle = await this.target.injectFault(plan, store.record.id, this.say);
    this.handle = handle;
    const restarted = plan.action === "restart" ? " and the database restarted" : "";
    store.transition("Observing", `fault injected${restarted}; watching for up to ${this.spec.durationSeconds} s`);
    this.log(`injected: ${plan.detail}`);
    return handle;
  }

  /** Observing: until the window ends, the platform is stable again, or a guard trips. */
  private async observe(probe: MessageProbe, handle: FaultHandle, plan: FaultPlan): Promise<void> {
    const end = this.injectedAt + this.spec.durationSeconds * 1000;
    const guard = this.opts.guard === undefined ? null : new GuardWatch(this.target, this.opts.guard);
    while (this.now() < end && !this.interrupt.signal.aborted) {
      await sleep(250);
      const now = this.now();
      const outcome = this.observation(probe, handle, plan, now);
      if (outcome === "stable") break;
      if (outcome === "no-recovery") {
        this.abortReason = `guard: no recovery after twice the ${this.spec.budgetSeconds} s budget`;
        this.abortedBy = "guard";
        break;
      }
      // Fail safe: a guard that cannot be read stops the drill as one above 0 does.
      const reading = await guard?.due(now);
      if (reading !== undefined && reading !== null && reading.state !== "clear") {
        this.abortReason = reading.reason;
        this.abortedBy = "guard";
        break;
      }
    }
  }

  /** Where the observation stands: stable again (it may end), no recovery past twice the budget, or neither. */
  private observation(
    probe: MessageProbe,
    handle: FaultHandle,
    plan: FaultPlan,
    now: number,
  ): "stable" | "no-recovery" | null {
    const { injectedAt } = this;
    const r = computeRecovery(
      probe.samples.filter((s) => s.endMs !== null),
      probe.events,
      injectedAt,
      null,
      this.sinceStart(handle.platformRecoveredAt()),
    );
    const stuck = probe.samples.filter((s) => s.endMs === null && now - s.startMs > DRILL_DEFAULTS.probeTimeoutMs);
    const lastBad = Math.max(
      injectedAt,
      ...probe.samples.filter((s) => !s.ok && s.endMs !== null && s.startMs >= injectedAt).map((s) => s.startMs),
      ...stuck.map((s) => s.startMs),
    );
    const healed = plan.action !== "partition" || now > injectedAt + (plan.seconds ?? 0) * 1000;
    const stableFor = now - lastBad;
    const settled = r.recoverySeconds !== null && probe.allConnected() && healed && now - injectedAt >= MIN_OBSERVE_MS;
    if (settled && stableFor >= STABLE_MS) return "stable";
    const overdue = now - injectedAt > 2 * this.spec.budgetSeconds * 1000 + STABLE_MS;
    if (overdue && r.recoverySeconds === null && stableFor < STABLE_MS) return "no-recovery";
    return null;
  }

  /** Epoch ms of the platform's own recovery as ms since t0 (null: not yet, undefined: the fault has none). */
  private sinceStart(at: number | null | undefined): number | null | undefined {
    return at === undefined || at === null ? at : at - this.t0;
  }

  /** Restoring: undo the fault; returns why the restore failed (the drill ends on it), or null. */
  private async restore(store: DrillStore): Promise<string | null> {
    let failure: string | null = null;
    const reason = this.abortReason;
    store.transition("Restoring", reason ?? "observation window over");
    this.log(
      `restoring${reason ? ` (${reason})` : ""}: undoing the fault, restarting what died, waiting for replicas to sync`,
    );
    try {
      await this.handle?.restore();
    } catch (err) {
      // The drill ends here, and says why: a probe left running would keep this process alive for good.
      this.probe?.close();
      const why = `the restore failed: ${err instanceof Error ? err.message : String(err)}`;
      store.transition("Failed", why);
      failure = MESSAGES.restoreFailed(why, this.target.kind);
    }
    store.record.partition = false;
    store.save();
    return failure;
  }

  /** Verifying: every acknowledged message delivered once, in order; recovery judged; the platform healthy. */
  private async verify(store: DrillStore, probe: MessageProbe): Promise<Judgement> {
    const { spec, injectedAt, observedUntil } = this;
    store.transition(
      "Verifying",
      "every acknowledged message delivered once, in seq order; the platform healthy again",
    );
    this.log("verifying: waiting for every acknowledged message to reach its receiver");
    await probe.stop();
    const figures = await probe.verify(DRILL_DEFAULTS.deliveryTimeoutSeconds * 1000);
    probe.close();
    const healthAfter = await waitHealthy(this.target, HEALTH_AFTER_RESTORE_MS);
    const detecting = (this.handle?.notes ?? []).filter((n) => n.detects === true);
    const firstNoticed = detecting.length ? Math.min(...detecting.map((n) => n.atMs - this.t0)) : null;
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
      this.sinceStart(this.handle?.platformRecoveredAt()),
    );
    const failedDuringRestore = probe.samples.filter((s) => !inWindow(s) && !s.ok).length;
    const v = verdict(spec.fault, spec.budgetSeconds, recovery, figures, healthAfter.healthy);
    if (!healthAfter.healthy) v.reasons.push(`still unhealthy: ${healthAfter.detail}`);
    // A zone-loss's hypothesis is the spread: every service kept 2/3 of its Ready replicas without the zone.
    const spread = this.handle?.findings?.().zoneSpread;
    for (const s of spread?.services ?? [])
      if (3 * s.minReady < 2 * s.desired)
        v.reasons.push(MESSAGES.zoneSpread(spread?.zone ?? "", s.service, s.minReady, s.desired));
    v.passed = v.reasons.length === 0;
    const phase: DrillPhase = this.abortReason !== null ? "Aborted" : v.passed ? "Passed" : "Failed";
    const reasons = this.abortReason !== null ? [this.abortReason, ...v.reasons] : v.reasons;
    return { figures, recovery, failedDuringRestore, phase, reasons };
  }

  /** Passed, Failed or Aborted: the report, the timeline and the probe's raw data written; the final transition. */
  private async report(store: DrillStore, plan: FaultPlan, probe: MessageProbe, j: Judgement): Promise<DrillReport> {
    const { spec, injectedAt, observedUntil, t0 } = this;
    const loadResult = this.load ? await this.load : null;
    const noted = this.handle?.notes ?? [];
    const passed = j.phase === "Passed";
    const notes = noted.map((n) => ({ atMs: n.atMs - t0, what: n.what }));
    const svg = timelineSvg(spec.fault, probe.samples, injectedAt, j.recovery, observedUntil, notes);
    const timeline = store.writeFile("timeline.svg", svg);
    const found = this.handle?.findings?.();
    const report: DrillReport = {
      id: store.record.id,
      fault: spec.fault,
      component: plan.component,
      action: plan.action,
      detail: plan.detail,
      phase: j.phase,
      passed,
      reasons: j.reasons,
      abortedBy: this.abortedBy,
      budgetSeconds: spec.budgetSeconds,
      ...j.recovery,
      ...j.figures,
      seed: plan.seed ?? (spec.fault === "random-instance" ? spec.seed : null),
      observedSeconds: (observedUntil - injectedAt) / 1000,
      failedProbesDuringRestore: j.failedDuringRestore,
      platform: noted.map((n) => ({ atSeconds: (n.atMs - t0 - injectedAt) / 1000, what: n.what })),
      probe: { ran: plan.probeUnavailable === undefined, why: plan.probeUnavailable ?? null },
      workloads: found?.workloads ?? [],
      evictions: found?.evictions ?? null,
      deletedPods: found?.deleted ?? null,
      zoneSpread: found?.zoneSpread ?? null,
      networkPolicy: found?.networkPolicy ?? null,
      load: loadResult,
      files: { dir: store.dir, report: `${store.dir}/report.json`, timeline },
    };
    store.writeFile("report.json", `${JSON.stringify(report, null, 2)}\n`);
    // Every probe attempt and connection event, for anyone who wants to redraw or re-judge the run.
    store.writeFile(
      "probe.json",
      JSON.stringify({ injectedAtMs: injectedAt, samples: probe.samples, events: probe.events }),
    );
    store.transition(j.phase, passed ? "hypothesis held" : j.reasons.join("; "));
    return report;
  }
}

/** k6 alongside the drill, through imctl's own loadtest command (its verdict is reported, not the drill's). */
async function runLoad(scenario: string, stack: string, seconds: number): Promise<LoadResult> {
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
