/** The pictures of a bandwidth upgrade: gateway utilisation and delivery latency over its course. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderLineChart } from "../../lib/chart.ts";
import type { BandwidthTarget } from "../../targets/target.ts";
import { queries } from "./audit.ts";
import type { UpgradeState } from "./upgrade-state.ts";

/** Utilisation and delivery latency over the upgrade, as two pictures beside the state file. */
export async function charts(target: BandwidthTarget, st: UpgradeState, scrapeSeconds: number): Promise<void> {
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
