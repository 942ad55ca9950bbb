import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  bottleneck,
  growth,
  hourlyProfile,
  lowTrafficWindow,
  niceCeil,
  requiredCapacity,
  stats,
  sumSeries,
  sustainedRuns,
  type Points,
} from "./analysis.ts";

const series = (values: number[], step = 60, t0 = 1_700_000_000): Points => values.map((v, i) => [t0 + i * step, v]);

describe("bandwidth analysis", () => {
  it("stats: peak, p95 and average, ignoring NaN (histogram_quantile of no traffic)", () => {
    const s = stats(series([1, 2, 3, 4, Number.NaN, 10]));
    assert.deepEqual(s, { peak: 10, p95: 10, avg: 4 });
    assert.equal(stats(series([Number.NaN])), null);
    assert.deepEqual(
      sumSeries([series([1, 2]), series([10, 20])]).map(([, v]) => v),
      [11, 22],
    );
  });

  it("sustained over 70 %: only runs that last the minimum, broken by a dip or a gap", () => {
    // 5-minute minimum at a 60 s step: 6 points above (6 min) count, 3 points (3 min) do not.
    const u = series([0.5, 0.8, 0.9, 0.75, 0.95, 0.72, 0.71, 0.2, 0.8, 0.9, 0.9, 0.1]);
    const runs = sustainedRuns(u, 0.7, 300, 60);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]?.seconds, 360);
    assert.equal(runs[0]?.peak, 0.95);
    const gap: Points = [...series([0.9, 0.9, 0.9]), ...series([0.9, 0.9, 0.9], 60, 1_700_000_000 + 600)];
    assert.equal(sustainedRuns(gap, 0.7, 300, 60).length, 0, "a scrape gap ends a run");
    assert.equal(sustainedRuns(series([0.7, 0.7, 0.7, 0.7, 0.7]), 0.7, 300, 60).length, 1, "at the line counts");
  });

  it("growth: a trend over hours is meaningful, one over minutes is not", () => {
    const hourly = series([100, 110, 120, 130, 140, 150], 3600);
    const g = growth(hourly);
    assert.ok(g.ratio !== null && Math.abs(g.ratio - 0.5) < 1e-9, String(g.ratio));
    assert.equal(g.meaningful, true);
    const short = growth(series([1, 5, 9], 10));
    assert.equal(short.meaningful, false);
    assert.equal(growth(series([5])).ratio, null);
    assert.ok((growth(series([100, 100, 100], 3600)).ratio ?? 1) === 0);
  });

  it("latency up while CPU low is a bandwidth bottleneck; with CPU high it is a CPU one", () => {
    const lat = series([0.02, 0.02, 0.03, 0.02, 0.9, 1.5, 2.2, 2.8]);
    const util = series([0.2, 0.3, 0.3, 0.3, 0.98, 1, 1, 1]);
    const cpuLow = series([0.05, 0.05, 0.06, 0.05, 0.08, 0.09, 0.1, 0.1]);
    const b = bottleneck(lat, util, cpuLow, { targetUtilisation: 0.7 });
    assert.equal(b.verdict, "bandwidth");
    assert.equal(b.elevatedPoints, 4);
    assert.equal(b.baselineLatencySeconds, 0.02);
    // Saturated for the whole window: no baseline, the seed's bar decides.
    const allSat = bottleneck(series([2, 3, 4]), series([1, 1, 1]), series([0.05, 0.05, 0.05]), {
      targetUtilisation: 0.7,
    });
    assert.equal(allSat.verdict, "bandwidth");
    assert.equal(allSat.baselineLatencySeconds, null);
    assert.equal(
      bottleneck(lat, util, series([0.1, 0.1, 0.1, 0.1, 0.95, 0.97, 0.99, 0.99]), { targetUtilisation: 0.7 }).verdict,
      "cpu",
    );
    // Latency up with the link idle: neither (look elsewhere: database, Kafka).
    assert.equal(
      bottleneck(lat, series([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]), cpuLow, { targetUtilisation: 0.7 }).verdict,
      "none",
    );
    // Flat latency: nothing to explain.
    assert.equal(
      bottleneck(series([0.02, 0.02, 0.02, 0.02]), util, cpuLow, { targetUtilisation: 0.7 }).verdict,
      "none",
    );
    // Elevated but under the seed's 150 ms bar: not flagged.
    assert.equal(
      bottleneck(series([0.01, 0.01, 0.01, 0.1, 0.1, 0.1]), util, cpuLow, { targetUtilisation: 0.7 }).verdict,
      "none",
    );
  });

  it("capacity: peak x (1 + growth) / target, per instance and as an instance count", () => {
    const c = requiredCapacity({
      peakTotalBytesPerSecond: 70_000,
      peakInstanceBytesPerSecond: 35_000,
      instances: 2,
      growth: 0.2,
      targetUtilisation: 0.7,
      currentCaps: [32_768, 32_768],
    });
    assert.equal(Math.round(c.requiredTotalBytesPerSecond), 120_000);
    assert.equal(c.requiredPerInstanceBytesPerSecond, 60_000);
    assert.equal(c.requiredInstances, 4); // 120,000 / 32,768 = 3.7
    assert.equal(c.sufficient, false);
    // An uneven spread: the busiest instance decides the vertical cap.
    const skew = requiredCapacity({
      peakTotalBytesPerSecond: 70_000,
      peakInstanceBytesPerSecond: 60_000,
      instances: 2,
      growth: 0,
      targetUtilisation: 0.7,
      currentCaps: [1e9],
    });
    assert.equal(skew.requiredPerInstanceBytesPerSecond, niceCeil(60_000 / 0.7));
    assert.equal(skew.sufficient, true);
    assert.throws(
      () =>
        requiredCapacity({
          peakTotalBytesPerSecond: 1,
          peakInstanceBytesPerSecond: 1,
          instances: 1,
          growth: 0,
          targetUtilisation: 0,
          currentCaps: [],
        }),
      /targetUtilisation/,
    );
    // More headroom never asks for less.
    let prev = 0;
    for (const target of [0.9, 0.8, 0.7, 0.5, 0.3]) {
      const r = requiredCapacity({
        peakTotalBytesPerSecond: 123_456,
        peakInstanceBytesPerSecond: 70_000,
        instances: 2,
        growth: 0.2,
        targetUtilisation: target,
        currentCaps: [10_000],
      });
      assert.ok(r.requiredPerInstanceBytesPerSecond >= prev);
      prev = r.requiredPerInstanceBytesPerSecond;
    }
  });

  it("niceCeil rounds up to two significant figures", () => {
    assert.equal(niceCeil(49_152), 50_000);
    assert.equal(niceCeil(50_000), 50_000);
    assert.equal(niceCeil(1234), 1300);
    assert.equal(niceCeil(7), 7);
    assert.equal(niceCeil(0), 0);
  });

  it("low-traffic window: the quietest hours, twice the estimate, a best guess on short history", () => {
    const day = 86_400;
    const t0 = 1_700_006_400 - (1_700_006_400 % day); // 00:00 UTC
    // A full day: busy by day, quiet 02:00-05:00.
    const pts: Points = [];
    for (let h = 0; h < 24; h++) pts.push([t0 + h * 3600, h >= 2 && h < 5 ? 10 : 100 + h]);
    const w = lowTrafficWindow(hourlyProfile(pts), 45, 24, 12);
    assert.equal(w.hours, 2); // 2 x 45 min, rounded up to whole hours
    assert.equal(w.startHour, 2);
    assert.equal(w.bestGuess, false);
    assert.equal(w.expectedBytesPerSecond, 10);
    assert.match(w.note, /^02:00-04:00 UTC: the quietest 2 hour\(s\)/);
    // Three hours of history: a best guess that says so, and avoids the hours it knows are busy.
    const short: Points = [
      [t0 + 9 * 3600, 500],
      [t0 + 10 * 3600, 5],
      [t0 + 11 * 3600, 400],
    ];
    const g = lowTrafficWindow(hourlyProfile(short), 20, 3, 11);
    assert.equal(g.hours, 1);
    assert.equal(g.startHour, 10);
    assert.equal(g.bestGuess, true);
    assert.match(g.note, /best guess from 3 hour\(s\) of traffic history covering 3 of 24 hours/);
    // No history at all: the next hour, as a best guess.
    const none = lowTrafficWindow([], 30, 0, 23);
    assert.equal(none.startHour, 0);
    assert.equal(none.bestGuess, true);
  });
});
