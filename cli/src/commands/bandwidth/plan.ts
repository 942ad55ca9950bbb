/**
 * `imctl bandwidth plan`: from an audit, the capacity needed with headroom, the options (vertical, horizontal, CDN)
 * priced from infra's price table, a rollback plan and a low-traffic window; written as a BandwidthPlan file an
 * operator reviews before `upgrade` applies it.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { BANDWIDTH, HOURS_PER_MONTH, INSTANCES } from "../../../../infra/lib/pricing.ts";
import type { PlatformSpec } from "../../../../infra/lib/spec.ts";
import { UserError } from "../../errors.ts";
import type { BandwidthTarget, GatewayCap } from "../../targets/target.ts";
import {
  DEFAULT_TARGET_UTILISATION,
  hourlyProfile,
  lowTrafficWindow,
  requiredCapacity,
  sumSeries,
  type Capacity,
} from "./analysis.ts";
import { audit, fetchSeries, parseWindow, type AuditResult } from "./audit.ts";
import { PLAN_API_VERSION, renderPlanFile, type BandwidthPlan, type CostLine, type PlanOption } from "./plan-file.ts";
import { appendAudit, bandwidthDir } from "./store.ts";

/** Growth assumed before the next review when --growth is not given. */
export const DEFAULT_GROWTH = 0.2;
/** How long `upgrade` watches after the cut-over by default (the seed's 24-48 h watch continues on dashboards). */
export const DEFAULT_WATCH = "30m";
/** The verification load `plan` proposes; the operator tunes it in the file to resemble the audited peak. */
export const DEFAULT_VERIFY = {
  scenario: "messaging",
  vus: 20,
  rate: 10,
  duration: "30s",
  maxP99Ms: 150,
  env: [] as string[],
};
/** Reference app-node shapes when the stack is local and has no cloud of its own to price. */
const REFERENCE_NODE = { aws: "m6i.large", alicloud: "ecs.g7.large" } as const;

export interface PlanOptions {
  since: string;
  growth?: string;
  targetUtilisation?: number;
  history?: string;
  sustained?: string;
  out?: string;
  progress?: (line: string) => void;
}

export interface PlanResult {
  file: string;
  plan: BandwidthPlan;
  audit: AuditResult;
  capacity: Capacity;
}

/** "20%", "20 %" or "0.2". */
export function parseGrowth(raw: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(raw);
  const v = m ? Number(m[1]) / (m[2] === "%" ? 100 : 1) : Number.NaN;
  if (!(v >= 0 && v <= 10))
    throw new UserError(
      `--growth: got ${JSON.stringify(raw)}; allowed: a percentage such as 20% (or a share such as 0.2), 0 to 1000 %`,
    );
  return v;
}

const mbps = (bytesPerSecond: number) => (bytesPerSecond * 8) / 1e6;
const gbPerMonth = (bytesPerSecond: number) => (bytesPerSecond * HOURS_PER_MONTH * 3600) / 1e9;
const cents = (usd: number) => Math.round(usd * 100) / 100;

function verticalCost(extraBytesPerSecond: number, local: boolean): CostLine[] {
  const lines: CostLine[] = [];
  if (local)
    lines.push({
      cloud: "local",
      item: "gateway egress caps (no charge on the local target)",
      monthlyUsd: 0,
      source: "local target",
      checked: true,
    });
  const ali = BANDWIDTH.alicloud.fixedBandwidth;
  if (ali !== undefined) {
    const extra = Math.ceil(mbps(extraBytesPerSecond));
    lines.push({
      cloud: "alicloud",
      item: `EIP / load balancer bandwidth: +${extra} Mbit/s`,
      monthlyUsd: cents(extra * ali.usd),
      source: ali.source,
      checked: ali.checked,
    });
  }
  const aws = BANDWIDTH.aws.internetEgress;
  lines.push({
    cloud: "aws",
    item: "no bandwidth cap to buy: NLB and Elastic IPs carry what comes, billed per GB transferred (see traffic)",
    monthlyUsd: null,
    source: aws?.source ?? "https://aws.amazon.com/elasticloadbalancing/pricing/",
    checked: aws?.checked ?? false,
  });
  return lines;
}

function horizontalCost(extraInstances: number, spec: PlatformSpec): CostLine[] {
  const lines: CostLine[] = [];
  for (const cloud of ["aws", "alicloud"] as const) {
    const type = spec.clouds?.[cloud]?.cluster.nodeGroups.app.instanceType ?? REFERENCE_NODE[cloud];
    const price = INSTANCES[cloud][type];
    if (price === undefined) {
      lines.push({
        cloud,
        item: `+${extraInstances} gateway instance(s) on ${type}: unpriced (not in infra/lib/pricing.ts)`,
        monthlyUsd: null,
        source: "infra/lib/pricing.ts",
        checked: false,
      });
      continue;
    }
    // One app node per extra gateway: gateways are spread one per node for blast radius (the seed's access tier).
    lines.push({
      cloud,
      item: `+${extraInstances} gateway instance(s), one ${type} node each`,
      monthlyUsd: cents(extraInstances * price.usd * HOURS_PER_MONTH),
      source: price.source,
      checked: price.checked,
    });
  }
  return lines;
}

function cdnCost(avgBytesPerSecond: number): CostLine[] {
  return (["aws", "alicloud"] as const).flatMap((cloud) => {
    const p = BANDWIDTH[cloud].cdn;
    if (p === undefined) return [];
    return [
      {
        cloud,
        item: `CDN at $${p.usd}/GB for media only; the audited ${gbPerMonth(avgBytesPerSecond).toFixed(1)} GB/month of gateway egress is messages`,
        monthlyUsd: null,
        source: p.source,
        checked: p.checked,
      },
    ];
  });
}

function trafficCost(avgBytesPerSecond: number): CostLine[] {
  return (["aws", "alicloud"] as const).flatMap((cloud) => {
    const p = BANDWIDTH[cloud].internetEgress;
    if (p === undefined) return [];
    const gb = gbPerMonth(avgBytesPerSecond);
    return [
      {
        cloud,
        item: `traffic at the audited average: ${gb.toFixed(1)} GB/month (the same under every option)`,
        monthlyUsd: cents(gb * p.usd),
        source: p.source,
        checked: p.checked,
      },
    ];
  });
}

/** What the plan offers: vertical (applicable), horizontal (not on the local target), CDN (not for messages). */
function planOptions(
  a: AuditResult,
  capacity: Capacity,
  caps: GatewayCap[],
  spec: PlatformSpec,
  local: boolean,
): PlanOption[] {
  const perInstance = capacity.requiredPerInstanceBytesPerSecond;
  const extraInstances = Math.max(0, capacity.requiredInstances - caps.length);
  const extraBytes = Math.max(0, perInstance * caps.length - caps.reduce((n, c) => n + c.bytesPerSecond, 0));
  return [
    {
      name: "vertical",
      summary:
        `raise each gateway's egress cap to ${perInstance} B/s (${mbps(perInstance).toFixed(2)} Mbit/s), ` +
        "one instance at a time, canary first",
      applicable: true,
      cost: [...verticalCost(extraBytes, local), ...trafficCost(a.total.egress?.avg ?? 0)],
    },
    {
      name: "horizontal",
      summary: `${capacity.requiredInstances} gateway instances (+${extraInstances}) at the current cap`,
      applicable: !local,
      ...(local
        ? {
            reason:
              "upgrade does not start gateway processes on the local target yet: " +
              "raise services.gateway.replicas in the stack file and run imctl local up",
          }
        : {}),
      cost: horizontalCost(extraInstances, spec),
    },
    {
      name: "cdn",
      summary:
        "serve media (images, files, voice) from a CDN so it leaves the gateways' and the load balancer's bandwidth",
      applicable: false,
      reason: "the gateways carry messages, not media; a CDN only helps once media downloads go through this platform",
      cost: cdnCost(a.total.egress?.avg ?? 0),
    },
  ];
}

/** The low-traffic window, from hourly traffic over the longer history (Prometheus keeps its retention). */
async function planWindow(
  target: BandwidthTarget,
  scrapeSeconds: number,
  historySeconds: number,
  gatewayCount: number,
) {
  const end = Math.floor(Date.now() / 1000);
  const hStep = Math.max(scrapeSeconds, Math.ceil(historySeconds / 2000));
  const hist = await fetchSeries(target, end - historySeconds, end, hStep, scrapeSeconds);
  const total = sumSeries([...hist.egress.values()]);
  const firstData = total.find(([, v]) => v > 0)?.[0] ?? end;
  const watchMinutes = parseWindow("watch", DEFAULT_WATCH) / 60;
  const verifyMinutes = parseWindow("verify.duration", DEFAULT_VERIFY.duration) / 60 + 1; // k6 set-up and drain
  const estimatedMinutes = Math.ceil(1 + gatewayCount * 0.5 + 2 * verifyMinutes + watchMinutes);
  const w = lowTrafficWindow(
    hourlyProfile(total),
    estimatedMinutes,
    (end - firstData) / 3600,
    new Date().getUTCHours(),
  );
  return { startHourUtc: w.startHour, hours: w.hours, estimatedMinutes, bestGuess: w.bestGuess, note: w.note };
}

const ROLLBACK_STEPS = [
  "automatic: upgrade restores the backup when the canary verification, the full verification or the watch fails",
  "by hand: imctl bandwidth rollback --yes puts every gateway's cap (live and recorded for restarts) back " +
    "as the backup holds it",
  "then: imctl bandwidth audit --since 15m shows the caps and utilisation as they were before the upgrade",
];

const planId = (now: Date) =>
  `bw-${now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "")
    .replace("T", "-")
    .toLowerCase()}`;

export async function plan(
  target: BandwidthTarget,
  spec: PlatformSpec,
  scrapeSeconds: number,
  opts: PlanOptions,
): Promise<PlanResult> {
  // Validate every input before any query or write.
  const growthShare = opts.growth === undefined ? DEFAULT_GROWTH : parseGrowth(opts.growth);
  const targetUtilisation = opts.targetUtilisation ?? DEFAULT_TARGET_UTILISATION;
  const historySeconds = parseWindow("--history", opts.history ?? "7d");
  parseWindow("--since", opts.since);
  const say = opts.progress ?? (() => undefined);
  const a = await audit(target, scrapeSeconds, {
    since: opts.since,
    sustained: opts.sustained,
    targetUtilisation,
    progress: opts.progress,
  });
  const caps = await target.gatewayCaps();
  const peakInstance = Math.max(0, ...a.instances.map((i) => i.demand?.peak ?? i.egress?.peak ?? 0));
  const capacity = requiredCapacity({
    peakTotalBytesPerSecond: a.total.demand?.peak ?? a.total.egress?.peak ?? 0,
    peakInstanceBytesPerSecond: peakInstance,
    instances: caps.length,
    growth: growthShare,
    targetUtilisation,
    currentCaps: caps.map((c) => c.bytesPerSecond),
  });
  say(
    `plan: peak demand ${Math.round(a.total.demand?.peak ?? 0)} B/s in total, ${Math.round(peakInstance)} B/s ` +
      `on the busiest gateway; needed with ${Math.round(growthShare * 100)} % growth at ` +
      `${Math.round(targetUtilisation * 100)} %: ${capacity.requiredPerInstanceBytesPerSecond} B/s per gateway`,
  );

  const gateways = caps
    .filter((c) => c.bytesPerSecond < capacity.requiredPerInstanceBytesPerSecond)
    .map((c) => ({
      instance: c.instance,
      fromBytesPerSecond: c.bytesPerSecond,
      toBytesPerSecond: capacity.requiredPerInstanceBytesPerSecond,
    }));
  const window = await planWindow(target, scrapeSeconds, historySeconds, gateways.length);
  const now = new Date();
  const id = planId(now);
  const p: BandwidthPlan = {
    apiVersion: PLAN_API_VERSION,
    kind: "BandwidthPlan",
    metadata: { id, createdAt: now.toISOString(), stack: target.stack, target: target.kind },
    audit: {
      since: opts.since,
      peakBytesPerSecond: Math.round(a.total.egress?.peak ?? 0),
      p95BytesPerSecond: Math.round(a.total.egress?.p95 ?? 0),
      avgBytesPerSecond: Math.round(a.total.egress?.avg ?? 0),
      flags: a.flags.map((f) => `${f.kind}: ${f.detail}`),
    },
    capacity: {
      growth: growthShare,
      targetUtilisation,
      requiredTotalBytesPerSecond: Math.round(capacity.requiredTotalBytesPerSecond),
      requiredPerInstanceBytesPerSecond: capacity.requiredPerInstanceBytesPerSecond,
      requiredInstances: capacity.requiredInstances,
    },
    options: planOptions(a, capacity, caps, spec, target.kind === "local"),
    change: { option: "vertical", gateways },
    verify: { ...DEFAULT_VERIFY, maxUtilisation: targetUtilisation },
    watch: { duration: DEFAULT_WATCH },
    window,
    rollback: { steps: [...ROLLBACK_STEPS] },
  };
  const file = resolve(opts.out ?? join(bandwidthDir(target.stateDir), "plans", `${id}.yaml`));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, renderPlanFile(p));
  appendAudit(target.stateDir, {
    action: "plan",
    subject: id,
    detail: `${p.change.option} plan written to ${file}`,
    data: { file, change: p.change, requiredPerInstanceBytesPerSecond: capacity.requiredPerInstanceBytesPerSecond },
  });
  return { file, plan: p, audit: a, capacity };
}
