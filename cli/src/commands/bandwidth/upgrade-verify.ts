/**
 * How a bandwidth upgrade judges its changes: a k6 verification load through the edge with each changed gateway's
 * own figures from Prometheus, and the watch after the cut-over.
 */
import { sleep } from "../../../../base/sleep.ts";
import type { BandwidthTarget } from "../../targets/target.ts";
import { loadtestFailure, run as runLoadtest, type LoadtestResult } from "../loadtest/index.ts";
import { queries } from "./audit.ts";
import type { BandwidthPlan } from "./plan-file.ts";
import type { Measurement, Verification } from "./upgrade-state.ts";

const rateWindow = (scrapeSeconds: number) => 4 * scrapeSeconds;

/**
 * Waits (bounded) until the instances' egress queues are empty: the backlog built up behind the old cap drains at
 * the new one, and a verification started before that would measure the catch-up, not the new steady state.
 */
async function drained(
  target: BandwidthTarget,
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
  target: BandwidthTarget,
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
export async function verify(
  target: BandwidthTarget,
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
      `k6 lost ${r.figures.lost} message(s) (sent ${r.figures.sent}, received ${r.figures.received}, ` +
        `reconnects ${r.figures.reconnects}, request errors ${r.figures.requestErrors})`,
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
export async function watch(
  target: BandwidthTarget,
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
