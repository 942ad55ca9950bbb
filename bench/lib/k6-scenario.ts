/**
 * A load-test scenario as a benchmark: `imctl loadtest run` (the real k6 against a real platform) measured by its
 * p99 delivery latency. Any lost message fails the benchmark: a fast result that loses messages is no result.
 */
import type { LoadtestResult } from "../../cli/src/commands/loadtest/index.ts";
import { startPlatform, type TestPlatform } from "../../test/helpers/platform.ts";
import type { Benchmark } from "../harness.ts";

export function scenarioBenchmark(o: { name: string; description: string; offset: number; args: string[] }): Benchmark {
  let p: TestPlatform | null = null;
  const extras: LoadtestResult["figures"][] = [];
  return {
    name: o.name,
    unit: "ms",
    better: "lower",
    description: o.description,
    async setup() {
      p = await startPlatform(o.offset);
    },
    async teardown() {
      await p?.down();
    },
    async measure() {
      if (!p) throw new Error("no platform");
      // The latency bar is what is measured here, so it must not abort the run: the bound is loose.
      const r = await p.run("loadtest", "run", ...o.args, "--target", p.lbUrl, "--max-p99", "60000", "--json");
      const res = JSON.parse(r.stdout) as LoadtestResult;
      if (res.figures.lost > 0 || res.figures.requestErrors > 0)
        throw new Error(
          `${o.name}: ${res.figures.lost} lost, ${res.figures.requestErrors} request errors: ${JSON.stringify(res.figures)}`,
        );
      if (res.figures.deliveryP99Ms === null)
        throw new Error(`${o.name}: no delivery measured (exit ${r.exitCode}): ${r.stderr.slice(-500)}`);
      extras.push(res.figures);
      process.stderr.write(
        `[${o.name}] p50 ${res.figures.deliveryP50Ms} ms, p95 ${res.figures.deliveryP95Ms} ms, p99` +
          ` ${res.figures.deliveryP99Ms} ms, ${res.figures.received}/${res.figures.sent} delivered\n`,
      );
      return res.figures.deliveryP99Ms;
    },
    extra() {
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
      return [
        { name: `${o.name}-p50`, value: med(extras.map((f) => f.deliveryP50Ms ?? 0)), unit: "ms", baseline: null },
        { name: `${o.name}-delivered`, value: med(extras.map((f) => f.received)), unit: "messages", baseline: null },
      ];
    },
  };
}
