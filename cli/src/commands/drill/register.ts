/** `imctl drill ...`: failover drills that report detection, recovery time and message loss. */
import { type Command, Option } from "commander";
import { type Act as ActOf, examples, lazyActions, outcome, progress, type Sink, stackOption } from "../command.ts";
// Types only: the handler module itself is imported when a command runs.
import type * as Handlers from "./index.ts";
import type { RunOptions } from "./run.ts";
import { duration, STRINGS, wholeNumber } from "../flags.ts";
import { EXIT } from "../../errors.ts";
import { SCENARIOS } from "../../../../infra/loadtest/scenarios.ts";
import { SERVICE_NAMES } from "../../targets/target.ts";

type Act = ActOf<typeof Handlers>;

/**
 * The flags' ranges: a drill observes for at most an hour and a partition lasts at most 10 minutes (longer is an
 * outage, not a drill); a recovery budget beyond the observation window could never be judged; the restore drill's
 * RTO budget goes up to a day.
 */
const RANGES = {
  duration: duration(["ms", "s", "m"], 1, 3600),
  partition: duration(["ms", "s", "m"], 1, 600),
  budget: duration(["ms", "s", "m"], 1, 3600),
  restoreBudget: duration(["ms", "s", "m"], 1, 86_400),
  seed: (v: string) => String(wholeNumber(0, 2 ** 32 - 1)(v)),
  percent: (v: string) => String(wholeNumber(1, 100)(v)),
};

/** A flag with a closed set of values: refused by commander while it parses, like a number out of range. */
const choice = (flags: string, description: string, values: readonly string[]) =>
  new Option(flags, description).choices(values);
const TARGETS = ["local", "kubernetes"] as const;

/** What commander hands the run action: the run's options, with the stack option's default applied. */
type RunOpts = Omit<RunOptions, "progress"> & { stack: string };

export function register(program: Command, sink: Sink): void {
  const act: Act = lazyActions(sink, () => import("./index.ts"));
  const drill = program
    .command("drill")
    .description("failover drills that report detection, recovery time and message loss");
  registerRun(drill, act);
  registerRestore(drill, act);
}

/** The options that say which fault and how (each fault takes only its own: model.ts refuses the others). */
function faultOptions(c: Command): Command {
  return c
    .addOption(
      choice("--mode <hard|graceful>", "kafka-broker: SIGKILL (hard, default) or SIGTERM (controlled shutdown)", [
        "hard",
        "graceful",
      ]),
    )
    .option(
      "--instance <id>",
      "the component to hit instead of the drill's pick, e.g. gateway-2, kafka-3, message-1; on kubernetes a pod " +
        "(pod-kill) or a node (node-drain)",
      STRINGS.instance,
    )
    .option(
      "--workload <name>",
      "pod-kill: the Deployment or StatefulSet whose pods die (default gateway-stable)",
      STRINGS.workload,
    )
    .option(
      "--percent <n>",
      "pod-kill: this percent of the workload's pods, rounded down, at least 1 (default: one pod)",
      RANGES.percent,
    )
    .option("--force", "pod-kill: delete with gracePeriodSeconds 0 (default: the pod's own grace period)")
    .option(
      "--zone <zone>",
      "zone-loss: the zone lost (default: a seeded pick among the zones with platform pods)",
      STRINGS.zone,
    )
    .addOption(
      choice("--from <service>", "partition on kubernetes: the service cut off (default gateway)", SERVICE_NAMES),
    )
    .addOption(
      choice(
        "--to <service>",
        "partition on kubernetes: the service it can no longer reach (default message)",
        SERVICE_NAMES,
      ),
    )
    .option(
      "--partition-seconds <d>",
      "partition: how long the instance stays cut off (default 10s; up to 10m)",
      RANGES.partition,
    )
    .option(
      "--seed <n>",
      "random-instance, pod-kill, zone-loss: the seed of the pick (printed by every run)",
      RANGES.seed,
    );
}

function registerRun(drill: Command, act: Act): void {
  const run = faultOptions(
    drill
      .command("run")
      .description(
        "inject one fault under a message probe, restore, verify; exits 1 when recovery is over budget or an " +
          "acknowledged message was lost",
      )
      .argument(
        "<fault>",
        "local: redis-primary, kafka-broker, db; both: gateway-instance, message-instance, user-center-instance, " +
          "random-instance, partition; kubernetes: pod-kill, node-drain, zone-loss",
      )
      .addOption(
        choice("-t, --target <local|kubernetes>", "where the platform runs (default: the stack's target)", TARGETS),
      )
      .addOption(stackOption())
      .option(
        "-d, --duration <d>",
        "longest observation after the injection, e.g. 30s (default 30s; ends early once stable; 1s to 60m)",
        RANGES.duration,
      )
      .addOption(
        choice(
          "--load <scenario>",
          "run a k6 scenario (imctl loadtest list) alongside the probe",
          SCENARIOS.map((s) => s.name),
        ),
      )
      .option(
        "--budget <d>",
        "recovery budget instead of the fault's default (redis-primary 10s, kafka-broker 15s, db 30s, " +
          "gateway-instance 10s, message-instance 5s; on kubernetes pod-kill and *-instance 60s, node-drain and " +
          "zone-loss 120s; 1s to 60m)",
        RANGES.budget,
      ),
  )
    .option(
      "--guard <promql>",
      "stop condition: when any sample of this query is above 0, restore at once",
      STRINGS.guard,
    )
    .option("-y, --yes", "confirm injecting a real fault")
    .action(
      act(async (m, fault: string, opts: RunOpts) => {
        const r = await m.run(fault, { ...opts, progress });
        return outcome(
          r,
          m.renderRun(r),
          r.passed ? EXIT.ok : r.abortedBy === "interrupt" ? EXIT.interrupted : EXIT.failed,
        );
      }),
    );
  examples(run, [
    "drill run redis-primary --yes",
    "drill run random-instance --seed 42 --yes",
    "drill run pod-kill --stack embedded-cluster --workload message-stable --percent 50 --seed 7 --yes",
    "drill run zone-loss --stack embedded-cluster --zone zone-b --json --yes",
  ]);
}

function registerRestore(drill: Command, act: Act): void {
  const restore = drill
    .command("restore")
    .description(
      "back up the database, destroy it, restore it, verify row counts and checksums, report the RTO (asks for --yes)",
    )
    .addOption(
      choice(
        "-t, --target <local|kubernetes>",
        "where the platform runs (default: the stack's target; local only for now)",
        TARGETS,
      ),
    )
    .addOption(stackOption())
    .option("--budget <d>", "RTO budget (default 15m, the seed's; 1s to 1440m)", RANGES.restoreBudget)
    .option("-y, --yes", "confirm destroying and restoring the database")
    .action(
      act(async (m, opts: { target?: string; stack: string; budget?: string; yes?: boolean }) => {
        const r = await m.restore({ ...opts, progress });
        return outcome(r, m.renderRestore(r), r.passed ? 0 : 1);
      }),
    );
  examples(restore, ["drill restore --yes", "drill restore --budget 10m --json --yes"]);
}
