/** The drills' reports as text for the terminal, and the fault drill's timeline picture. */
import { relative } from "node:path";
import { renderLineChart } from "../../lib/chart.ts";
import { REPO_ROOT } from "../../../../base/root.mjs";
import { table } from "../../lib/table.ts";
import { timelineSeries, type ProbeSample, type RecoveryFigures } from "./model.ts";
import type { RestoreReport } from "./restore.ts";
import type { DrillReport } from "./run.ts";

/** The timeline.svg of a fault drill: probe success and the slowest acknowledgement per second, with markers. */
export function timelineSvg(
  fault: string,
  samples: readonly ProbeSample[],
  injectedAt: number,
  r: RecoveryFigures,
  observedUntil: number,
  notes: Array<{ atMs: number; what: string }>,
): string {
  const { success, latency } = timelineSeries(samples);
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
const rel = (file: string) => relative(REPO_ROOT, file) || file;

export function renderRun(r: DrillReport): string {
  const recovery = r.impact || r.recoverySeconds !== 0 ? secs(r.recoverySeconds) : "0.0 s (no probe noticed the fault)";
  const rows: string[][] = [
    ["fault", `${r.fault}: ${r.detail}`],
    ["verdict", r.passed ? "PASSED" : `${r.phase.toUpperCase()}: ${r.reasons.join("; ")}`],
    ["detection", secs(r.detectionSeconds)],
    ["recovery", `${recovery} (budget ${r.budgetSeconds} s)`],
    ["messages", `${r.sent} sent, ${r.acknowledged} acknowledged, ${r.delivered} delivered`],
    ["lost (acknowledged)", String(r.lostAcknowledged)],
    ["duplicated", String(r.duplicated)],
    ["seq", `${r.seqMonotonic ? "monotonic" : "WENT BACKWARDS"} for every receiver, ${r.seqGaps} gap(s)`],
    ["restore", `${r.failedProbesDuringRestore} probe(s) failed while the restore restarted what the fault stopped`],
  ];
  if (r.seed !== null) rows.push(["seed", `${r.seed} (--seed ${r.seed} picks ${r.component} again)`]);
  rows.push(...kubernetesRows(r));
  if (r.load)
    rows.push(["load", `k6 ${r.load.scenario}: ${r.load.passed ? "thresholds held" : `exit ${r.load.exitCode}`}`]);
  const platform = r.platform.map((p) => `  +${p.atSeconds.toFixed(1)} s  ${p.what}`);
  return [
    table(["", ""], rows),
    ...(platform.length ? ["", "platform:", ...platform] : []),
    "",
    `timeline: ${rel(r.files.timeline)}`,
    `report:   ${rel(r.files.report)}`,
  ].join("\n");
}

/** The kubernetes drill's own rows: probe, workload counts, evictions, zone spread, the NetworkPolicy. */
function kubernetesRows(r: DrillReport): string[][] {
  const rows: string[][] = [];
  if (!r.probe.ran) rows.push(["probe", `not run: ${r.probe.why ?? ""}`]);
  for (const w of r.workloads)
    rows.push([
      "workload",
      `${w.workload}: desired ${w.desired}, fewest Ready ${w.minReady}, Ready at end ${w.readyAtEnd}`,
    ]);
  if (r.evictions) {
    const blocked = r.evictions.blocked.map((b) => `${b.pod} (${b.attempts} tries)`).join(", ");
    rows.push([
      "evictions",
      `${r.evictions.evicted.length} evicted; ${r.evictions.blocked.length} blocked by a PodDisruptionBudget` +
        `${blocked ? `: ${blocked}` : ""}; ${r.evictions.skipped.length} skipped (DaemonSet, mirror, unmanaged)`,
    ]);
  }
  if (r.zoneSpread) {
    const per = r.zoneSpread.services.map((s) => `${s.service} ${s.minReady}/${s.desired}`).join(", ");
    rows.push(["zone spread", `${r.zoneSpread.rule}: ${r.zoneSpread.kept ? "yes" : "NO"} (${per})`]);
  }
  if (r.networkPolicy)
    rows.push([
      "network policy",
      `${r.networkPolicy.namespace}/${r.networkPolicy.name}, enforced: ${r.networkPolicy.enforced} (${r.networkPolicy.note})`,
    ]);
  return rows;
}

export function renderRestore(r: RestoreReport): string {
  const backup = `${(r.backupBytes / 1024).toFixed(0)} KiB in ${r.backupSeconds.toFixed(1)} s (${rel(r.backupFile)})`;
  const rto =
    `${r.rtoSeconds.toFixed(1)} s from DROP DATABASE to verified data ` +
    `(budget ${r.rtoBudgetSeconds} s; the restore itself ${r.restoreSeconds.toFixed(1)} s)`;
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
    `backup:  ${backup}`,
    `RTO:     ${rto}`,
    `verdict: ${r.passed ? "PASSED" : `FAILED: ${r.reasons.join("; ")}`}`,
    `report:  ${rel(r.files.report)}`,
  ].join("\n");
}
