/**
 * How a rollout reads to an operator: the status summary, the history table and audit trail, and the picture
 * (canary weight over time above, each analysed metric for canary and stable below, transitions marked).
 */
import { renderLineChart } from "../../lib/chart.ts";
import { table } from "../../lib/table.ts";
import type { RolloutState } from "./machine.ts";
import type { HistoryResult, RolloutResult } from "./index.ts";
import { describeStep } from "./strategy.ts";

export function rolloutChart(s: RolloutState): string {
  const t0 = Date.parse(s.startedAt) / 1000;
  const x = (at: string) => Math.round((Date.parse(at) / 1000 - t0) * 10) / 10;
  // A step line: the weight holds until the next change.
  const weight: Array<[number, number]> = [];
  for (const p of s.timeline) {
    const last = weight.at(-1);
    if (last) weight.push([x(p.at), last[1]]);
    weight.push([x(p.at), p.canaryWeight]);
  }
  const markers = s.measurements
    .filter((m) => m.phase !== "Successful")
    .map((m) => ({ x: x(m.at), label: `${m.metric} ${m.phase}` }));
  if (s.finishedAt) markers.push({ x: x(s.finishedAt), label: s.phase });
  const top = renderLineChart({
    title: `rollout ${s.service} ${s.stableVersion} -> ${s.version}: ${s.phase}${s.reason && s.phase === "Aborted" ? ` (${s.reason.slice(0, 80)})` : ""}`,
    xLabel: "seconds since start",
    yLabel: "canary weight (%)",
    series: [{ name: "canary weight", points: weight }],
    markers,
    height: 300,
  });
  const names = [...new Set(s.measurements.map((m) => m.metric))];
  const series = names.flatMap((n) => {
    const ms = s.measurements.filter((m) => m.metric === n);
    const canary = ms.flatMap((m): Array<[number, number]> => (m.value === null ? [] : [[x(m.at), m.value]]));
    const stable = ms.flatMap((m): Array<[number, number]> => (m.stable === null ? [] : [[x(m.at), m.stable]]));
    return [
      { name: `${n} canary`, points: canary },
      ...(stable.length ? [{ name: `${n} stable`, points: stable }] : []),
    ];
  });
  const bottom = renderLineChart({
    title: "analysis measurements (seconds for latencies, ratio for error rates)",
    xLabel: "seconds since start",
    yLabel: "value",
    series,
    markers,
    height: 340,
  });
  // Two charts stacked in one picture: nested <svg> elements with their own offsets.
  const inner = (svg: string, y: number) => svg.replace("<svg ", `<svg y="${y}" `);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="900" height="640" viewBox="0 0 900 640">\n${inner(top, 0)}${inner(bottom, 300)}</svg>\n`;
}

const ago = (at: string | undefined) => (at === undefined ? "-" : at.replace("T", " ").replace(/\.\d+Z$/, "Z"));

export function renderStatus(r: RolloutResult): string {
  const s = r.rollout;
  const rows = s.strategy.steps.map((st, i) => [
    i === s.step && s.phase !== "Promoted" && s.phase !== "Aborted" ? "→" : i < s.step ? "✓" : "",
    String(i + 1),
    describeStep(st),
  ]);
  const last = new Map<string, (typeof s.measurements)[number]>();
  for (const m of s.measurements) last.set(m.metric, m);
  return [
    `rollout ${s.id}: ${s.service} ${s.stableVersion} -> ${s.version} on the ${s.target} target`,
    `phase ${s.phase}, step ${Math.min(s.step + 1, s.strategy.steps.length)}/${s.strategy.steps.length}, ` +
      `canary weight ${s.canaryWeight} %${s.reason ? `\nreason: ${s.reason}` : ""}`,
    `started ${ago(s.startedAt)} by ${s.startedBy}${s.finishedAt ? `, finished ${ago(s.finishedAt)}` : ""}; ` +
      `controller ${r.controller ? `pid ${r.controller.pid}` : "not running"}`,
    "",
    table(["", "STEP", "WHAT"], rows),
    ...(last.size
      ? [
          "",
          table(
            ["METRIC", "LAST", "VALUE", "STABLE", "AT"],
            [...last.values()].map((m) => [
              m.metric,
              m.phase,
              m.value === null ? "no data" : String(+m.value.toPrecision(4)),
              m.stable === null ? "-" : String(+m.stable.toPrecision(4)),
              ago(m.at),
            ]),
          ),
        ]
      : []),
    "",
    `picture: ${r.chart}`,
  ].join("\n");
}

export function renderHistory(h: HistoryResult): string {
  return [
    table(
      ["ROLLOUT", "FROM", "TO", "PHASE", "STARTED", "FINISHED", "BY", "REASON"],
      h.rollouts.map((r) => [
        r.id,
        r.stableVersion,
        r.version,
        r.phase,
        ago(r.startedAt),
        ago(r.finishedAt),
        r.startedBy,
        r.reason ?? "",
      ]),
    ),
    "",
    "audit log:",
    table(
      ["WHEN", "WHO", "ROLLOUT", "WHAT", "WHY"],
      h.audit.map((e) => [ago(e.at), e.who, e.rollout, e.what, e.why]),
    ),
  ].join("\n");
}
