/** `imctl bandwidth ...`: gateway bandwidth audit, plan, upgrade with canary verification, rollback. */
import type { Command } from "commander";
import { type Act as ActOf, examples, lazyActions, outcome, type Sink, stackOption } from "../command.ts";
import { duration, growth, share, STRINGS } from "../flags.ts";
// Types only: the handler module itself is imported when a command runs.
import type * as Handlers from "./index.ts";

type Act = ActOf<typeof Handlers>;

/**
 * The flags' ranges. A utilisation line below 10 % would plan for gateways that never carry traffic, above 95 % for
 * no headroom at all; windows are bounded by what Prometheus keeps and by what an operator waits for.
 */
const RANGES = {
  utilisation: share(0.1, 0.95),
  since: duration(["s", "m", "h", "d"], 60, 90 * 86_400),
  sustained: duration(["s", "m", "h", "d"], 10, 86_400),
  history: duration(["s", "m", "h", "d"], 3600, 90 * 86_400),
  watch: duration(["s", "m", "h", "d"], 1, 7 * 86_400),
  growth: growth(1000),
};

export function register(program: Command, sink: Sink): void {
  const act: Act = lazyActions(sink, () => import("./index.ts"));
  const bandwidth = program
    .command("bandwidth")
    .description("gateway bandwidth: audit, plan, upgrade with canary verification, rollback");
  registerAudit(bandwidth, act);
  registerPlan(bandwidth, act);
  registerUpgrade(bandwidth, act);
  bandwidth
    .command("rollback")
    .description("restore the gateways' caps from the last upgrade's backup")
    .addOption(stackOption())
    .option("-y, --yes", "confirm changing the live gateways")
    .option("--id <upgrade>", "an older upgrade to undo (default: the last)", STRINGS.upgradeId)
    .action(
      act(async (m, opts: { stack: string; yes?: boolean; id?: string }) => {
        const r = await m.rollback(opts);
        return outcome(r, m.renderRollback(r));
      }),
    );
  bandwidth
    .command("status")
    .description("the gateways' caps now and the last upgrade's phase")
    .addOption(stackOption())
    .action(
      act(async (m, opts: { stack: string }) => {
        const r = await m.status(opts);
        return outcome(r, m.renderStatus(r));
      }),
    );
}

function registerAudit(bandwidth: Command, act: Act): void {
  const audit = bandwidth
    .command("audit")
    .description(
      "egress utilisation per gateway and in total, by hour, connections, backlog, latency; flags saturation, " +
        "growth, bandwidth bottlenecks",
    )
    .addOption(stackOption())
    .option("--since <window>", "how far back, e.g. 30m, 24h, 7d (1m to 90d)", RANGES.since, "24h")
    .option(
      "--sustained <duration>",
      "how long utilisation must stay over the line to be flagged (default 5m; 10s to 1d)",
      RANGES.sustained,
    )
    .option("--target-utilisation <share>", "the utilisation line (default 0.7, the seed's alert)", RANGES.utilisation)
    .action(
      act(async (m, opts: { stack: string; since: string; sustained?: string; targetUtilisation?: number }) => {
        const r = await m.audit(opts);
        return outcome(r, m.renderAudit(r));
      }),
    );
  examples(audit, [
    "bandwidth audit",
    "bandwidth audit --since 7d",
    "bandwidth audit --since 1h --target-utilisation 0.6",
  ]);
}

interface PlanOpts {
  stack: string;
  since: string;
  growth?: string;
  targetUtilisation?: number;
  history?: string;
  sustained?: string;
  out?: string;
}

function registerPlan(bandwidth: Command, act: Act): void {
  const plan = bandwidth
    .command("plan")
    .description(
      "capacity needed with headroom, options with their cost, rollback plan, low-traffic window; writes a plan file",
    )
    .addOption(stackOption())
    .option("--since <window>", "the audit window the peak comes from (1m to 90d)", RANGES.since, "24h")
    .option("--growth <percent>", "traffic growth to plan for, e.g. 20% (default 20%; 0 to 1000 %)", RANGES.growth)
    .option(
      "--target-utilisation <share>",
      "utilisation at peak after the upgrade (default 0.7; 0.1 to 0.95)",
      RANGES.utilisation,
    )
    .option(
      "--history <window>",
      "traffic history searched for the low-traffic window (default 7d; 1h to 90d)",
      RANGES.history,
    )
    .option("--sustained <duration>", "as for audit (default 5m)", RANGES.sustained)
    .option("-o, --out <file>", "where to write the plan (default under the state dir, bandwidth/plans/)")
    .action(
      act(async (m, opts: PlanOpts) => {
        const r = await m.plan(opts);
        return outcome({ file: r.file, plan: r.plan }, m.renderPlan(r));
      }),
    );
  examples(plan, [
    "bandwidth plan --since 24h --growth 20%",
    "bandwidth plan --since 7d --growth 50% --out gateway-plan.yaml",
  ]);
}

function registerUpgrade(bandwidth: Command, act: Act): void {
  const upgrade = bandwidth
    .command("upgrade")
    .description(
      "apply a plan: backup, shift traffic, adjust, canary verify (k6), cut over, watch; rolls back by itself on a " +
        "failed verification",
    )
    .addOption(stackOption())
    .option("--plan <file>", "the plan file written by imctl bandwidth plan")
    .option("-y, --yes", "confirm changing the live gateways")
    .option("--resume", "continue an interrupted upgrade from its next step")
    .option(
      "--watch <duration>",
      "how long to watch after the cut-over (default: the plan's watch.duration; 1s to 7d)",
      RANGES.watch,
    )
    .action(
      act(async (m, opts: { stack: string; plan?: string; yes?: boolean; resume?: boolean; watch?: string }) => {
        const r = await m.upgrade(opts);
        return outcome(r, m.renderUpgrade(r), r.phase === "Succeeded" ? 0 : 1);
      }),
    );
  examples(upgrade, [
    "bandwidth upgrade --plan gateway-plan.yaml --yes",
    "bandwidth upgrade --plan gateway-plan.yaml --watch 30m --yes",
    "bandwidth upgrade --resume --yes",
  ]);
}
