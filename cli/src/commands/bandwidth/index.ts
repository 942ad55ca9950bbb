/**
 * imctl bandwidth: audit -> plan -> upgrade (backup, shift traffic, adjust, canary verify, cut over, watch) ->
 * rollback, the seed's bandwidth-upgrade procedure as commands. Handlers return data; render* turn it into text.
 */
import { progress } from "../command.ts";
import { relative } from "node:path";
import { loadSpec, SpecError, type PlatformSpec } from "../../../../infra/lib/spec.ts";
import { UserError } from "../../errors.ts";
import { table } from "../../lib/table.ts";
import { openTarget } from "../../targets/open.ts";
import type { BandwidthTarget, GatewayCap } from "../../targets/target.ts";
import { sleep } from "../../../../base/sleep.ts";
import { resolveStack } from "../stack.ts";
import type { Stats } from "./analysis.ts";
import { audit as runAudit, type AuditResult } from "./audit.ts";
import { upgradeCloud, type CloudUpgradeResult } from "./cloud.ts";
import { plan as runPlan, type PlanOptions, type PlanResult } from "./plan.ts";
import { readPlan } from "./plan-file.ts";
import {
  latestUpgrade,
  rollback as runRollback,
  stepName,
  upgrade as runUpgrade,
  type RollbackResult,
  type UpgradeState,
} from "./upgrade.ts";
import { auditLogFile } from "./store.ts";

function openSpec(stackFile: string): PlatformSpec {
  try {
    return loadSpec(stackFile);
  } catch (err) {
    if (err instanceof SpecError) throw new UserError(err.message);
    throw err;
  }
}

/** Where Prometheus scrapes when a kubernetes stack does not say (kube-prometheus-stack's default). */
export const DEFAULT_KUBERNETES_SCRAPE_SECONDS = 30;

/** The stack's bandwidth capability (local or kubernetes) and the scrape interval its Prometheus runs at. */
async function bandwidthTarget(
  stack: string | undefined,
): Promise<{ target: BandwidthTarget; spec: PlatformSpec; scrape: number }> {
  const file = resolveStack(stack);
  const spec = openSpec(file);
  const target = await openTarget({ stack: file }).bandwidth();
  const scrape =
    spec.local?.prometheus.scrapeIntervalSeconds ??
    spec.kubernetes?.prometheus?.scrapeIntervalSeconds ??
    DEFAULT_KUBERNETES_SCRAPE_SECONDS;
  return { target, spec, scrape };
}

export interface AuditCommandOptions {
  stack?: string;
  since: string;
  sustained?: string;
  targetUtilisation?: number;
}

export async function audit(opts: AuditCommandOptions): Promise<AuditResult> {
  const { target, scrape } = await bandwidthTarget(opts.stack);
  return runAudit(target, scrape, {
    since: opts.since,
    sustained: opts.sustained,
    targetUtilisation: opts.targetUtilisation,
    progress,
  });
}

/** The plan's own options, less the progress sink (the command supplies it), plus the stack. */
export type PlanCommandOptions = Omit<PlanOptions, "progress"> & { stack?: string };

export async function plan(opts: PlanCommandOptions): Promise<PlanResult> {
  const { target, spec, scrape } = await bandwidthTarget(opts.stack);
  return runPlan(target, spec, scrape, { ...opts, progress });
}

export async function upgrade(opts: {
  stack?: string;
  plan?: string;
  yes?: boolean;
  resume?: boolean;
  watch?: string;
}): Promise<UpgradeState | CloudUpgradeResult> {
  const file = resolveStack(opts.stack);
  const spec = openSpec(file);
  if (spec.target === "kubernetes") {
    if (opts.plan === undefined)
      throw new UserError(`--plan: got nothing; allowed: a plan file written by "imctl bandwidth plan"`);
    const plan = readPlan(opts.plan);
    // The target opens before anything changes: a stack it cannot reach is refused up front.
    const target = await openTarget({ stack: file }).bandwidth();
    return upgradeCloud(file, plan, { yes: opts.yes, progress, verify: (n) => gatewaysReady(target, n) });
  }
  const { target, scrape } = await bandwidthTarget(opts.stack);
  return runUpgrade(target, { ...opts, scrapeSeconds: scrape, progress });
}

/** Until `replicas` gateways are Ready and report their cap (bounded by UPGRADE_VERIFY_MS), or why not. */
async function gatewaysReady(target: BandwidthTarget, replicas: number): Promise<string | null> {
  const deadline = Date.now() + UPGRADE_VERIFY_MS;
  let last = "no answer yet";
  for (;;) {
    try {
      const caps = await target.gatewayCaps();
      if (caps.length >= replicas) return null;
      last = `${caps.length} of ${replicas} gateways Ready (${caps.map((c) => c.instance).join(", ")})`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) return `after ${UPGRADE_VERIFY_MS / 1000} s: ${last}`;
    await sleep(2000);
  }
}

/** How long the new gateways may take to be Ready after the engine applied the change. */
export const UPGRADE_VERIFY_MS = 300_000;

export async function rollback(opts: { stack?: string; yes?: boolean; id?: string }): Promise<RollbackResult> {
  const { target } = await bandwidthTarget(opts.stack);
  return runRollback(target, { ...opts, progress });
}

export interface StatusResult {
  caps: GatewayCap[];
  upgrade: UpgradeState | null;
  auditLog: string;
}

export async function status(opts: { stack?: string }): Promise<StatusResult> {
  const { target } = await bandwidthTarget(opts.stack);
  const t: BandwidthTarget = target;
  return { caps: await t.gatewayCaps(), upgrade: latestUpgrade(t), auditLog: auditLogFile(t.stateDir) };
}

// ---- rendering ----

const rel = (p: string) => {
  const r = relative(process.cwd(), p);
  return r === "" || r.startsWith("..") ? p : r;
};
const kb = (b: number | null | undefined) =>
  b === null || b === undefined
    ? "-"
    : b >= 1024 * 1024
      ? `${(b / 1024 / 1024).toFixed(2)} MiB/s`
      : `${(b / 1024).toFixed(1)} KiB/s`;
const pct = (x: number | null | undefined) => (x === null || x === undefined ? "-" : `${Math.round(x * 100)} %`);
const trio = (s: Stats | null, f: (x: number) => string) =>
  s === null ? "-" : `${f(s.peak)} / ${f(s.p95)} / ${f(s.avg)}`;

export function renderAudit(r: AuditResult): string {
  const gatewayCpu = r.cpu.gatewayPeakCores === null ? "-" : `${Math.round(r.cpu.gatewayPeakCores * 100)} % of a core`;
  const rows = r.instances.map((i) => [
    i.instance,
    kb(i.capBytesPerSecond),
    trio(i.egress, kb),
    trio(i.utilisation, (x) => pct(x)),
    kb(i.demand?.peak),
    `${i.connections.now ?? "-"} (peak ${i.connections.peak ?? "-"})`,
    i.queuedBytesPeak === null ? "-" : `${Math.round(i.queuedBytesPeak / 1024)} KiB`,
  ]);
  rows.push([
    "total",
    kb(r.total.capBytesPerSecond),
    trio(r.total.egress, kb),
    trio(r.total.utilisation, (x) => pct(x)),
    kb(r.total.demand?.peak),
    "",
    "",
  ]);
  const hours = r.hourly.map((h) => `${String(h.hour).padStart(2, "0")}h ${kb(h.avg)}`).join(", ");
  const lines = [
    `gateway egress, ${r.window.start} .. ${r.window.end} (${r.window.stepSeconds} s steps; ${r.window.historyHours.toFixed(1)} h with traffic)`,
    "",
    table(
      [
        "GATEWAY",
        "CAP",
        "EGRESS PEAK / P95 / AVG",
        "UTILISATION PEAK / P95 / AVG",
        "DEMAND PEAK",
        "CONNECTIONS",
        "QUEUED PEAK",
      ],
      rows,
    ),
    "",
    `by hour of day (UTC, average): ${hours || "no traffic"}`,
    `message backlog (Kafka consumer lag): peak ${r.backlog.kafkaLagPeak ?? "-"}, now ${r.backlog.kafkaLagNow ?? "-"}`,
    `delivery latency p99: peak ${r.latency.p99PeakMs ?? "-"} ms, now ${r.latency.p99NowMs ?? "-"} ms; ` +
      `gateway CPU peak ${gatewayCpu}, machine CPU peak ${pct(r.cpu.nodePeak)}`,
    `growth over the window: ${r.total.growth.ratio === null ? "-" : `${Math.round(r.total.growth.ratio * 100)} %`}` +
      (r.total.growth.meaningful ? "" : " (too short a history to call it a trend)"),
    "",
    r.flags.length === 0
      ? "flags: none"
      : `flags:\n${r.flags.map((f) => `  ${f.kind.toUpperCase()}: ${f.detail}`).join("\n")}`,
    "",
    `utilisation over time: ${rel(r.files.chart)}`,
  ];
  return lines.join("\n");
}

export function renderPlan(r: PlanResult): string {
  const p = r.plan;
  const change =
    p.change.option === "vertical"
      ? p.change.gateways
          .map((g) => `${g.instance}: ${kb(g.fromBytesPerSecond)} -> ${kb(g.toBytesPerSecond)}`)
          .join(", ") || "nothing: the current caps suffice"
      : `gateway replicas ${p.change.replicas.from} -> ${p.change.replicas.to}`;
  const options = p.options.map((o) => {
    const cost = o.cost
      .map(
        (c) =>
          `      ${c.cloud}: ${c.item}: ${c.monthlyUsd === null ? "n/a" : `$${c.monthlyUsd.toFixed(2)}/month`}${c.checked ? "" : " (estimate)"}`,
      )
      .join("\n");
    return `  ${o.name}${o.applicable ? "" : " (not applied by upgrade here)"}: ${o.summary}${o.reason ? `\n    why not: ${o.reason}` : ""}\n${cost}`;
  });
  return [
    `bandwidth plan ${p.metadata.id} for ${p.metadata.stack}`,
    `audited peak ${kb(p.audit.peakBytesPerSecond)}, p95 ${kb(p.audit.p95BytesPerSecond)}, ` +
      `average ${kb(p.audit.avgBytesPerSecond)}; flags: ${p.audit.flags.length ? "" : "none"}`,
    ...p.audit.flags.map((f) => `  ${f}`),
    `needed with ${Math.round(p.capacity.growth * 100)} % growth at ${Math.round(p.capacity.targetUtilisation * 100)} % ` +
      `utilisation: ${kb(p.capacity.requiredTotalBytesPerSecond)} in total, ` +
      `${kb(p.capacity.requiredPerInstanceBytesPerSecond)} per gateway, ` +
      `or ${p.capacity.requiredInstances} gateways at the current cap`,
    "",
    "options:",
    ...options,
    "",
    `change (upgrade applies): ${p.change.option}: ${change}`,
    `verify: ${p.verify.scenario} with ${p.verify.vus} VUs at ${p.verify.rate}/s for ${p.verify.duration} ` +
      `(p99 <= ${p.verify.maxP99Ms} ms, utilisation <= ${pct(p.verify.maxUtilisation)}); watch ${p.watch.duration}`,
    `window: ${p.window.note} (estimate ${p.window.estimatedMinutes} min, window twice that)`,
    "rollback:",
    ...p.rollback.steps.map((s) => `  - ${s}`),
    "",
    `plan file: ${rel(r.file)}`,
    `next: imctl bandwidth upgrade --plan ${rel(r.file)} --yes`,
  ].join("\n");
}

export function renderUpgrade(r: UpgradeState | CloudUpgradeResult): string {
  if ("cloud" in r) return r.text;
  const rows = r.history.map((h, i) => [String(i + 1), stepName(h.step), h.outcome, h.detail]);
  return [
    `bandwidth upgrade ${r.id}: ${r.phase}${r.reason ? ` (${r.reason})` : ""}`,
    "",
    table(["#", "STEP", "OUTCOME", "DETAIL"], rows),
    "",
    r.rollback
      ? `rolled back at ${r.rollback.at}: caps restored to ${r.rollback.restored.map((c) => `${c.instance}=${c.bytesPerSecond}`).join(", ")}`
      : "",
    r.files.utilisationChart ? `utilisation over the upgrade: ${rel(r.files.utilisationChart)}` : "",
    r.files.latencyChart ? `delivery latency over the upgrade: ${rel(r.files.latencyChart)}` : "",
    r.phase === "Succeeded"
      ? "keep watching the dashboards for 24-48 h (the seed's watch); imctl bandwidth rollback --yes undoes it"
      : "",
  ]
    .filter((l, i, a) => l !== "" || (i > 0 && a[i - 1] !== ""))
    .join("\n")
    .trimEnd();
}

export function renderRollback(r: RollbackResult): string {
  return `bandwidth upgrade ${r.id}: ${r.phase}; caps restored to ${r.restored.map((c) => `${c.instance}=${c.bytesPerSecond} B/s`).join(", ")}`;
}

export function renderStatus(r: StatusResult): string {
  const u = r.upgrade;
  return [
    table(
      ["GATEWAY", "EGRESS CAP"],
      r.caps.map((c) => [c.instance, `${c.bytesPerSecond} B/s (${kb(c.bytesPerSecond)})`]),
    ),
    "",
    u === null
      ? "no bandwidth upgrade yet"
      : `last upgrade ${u.id}: ${u.phase}, step ${Math.min(u.next + 1, u.steps.length)}/${u.steps.length}${u.reason ? ` (${u.reason})` : ""}`,
    `audit log: ${rel(r.auditLog)}`,
  ].join("\n");
}
