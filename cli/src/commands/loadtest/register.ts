/** `imctl loadtest ...`: k6 load tests against the platform, as gates. */
import type { Command } from "commander";
import { type Act as ActOf, examples, lazyActions, outcome, progress, type Sink, stackOption } from "../command.ts";
import { decimal, duration, envPair, STRINGS, wholeNumber } from "../flags.ts";
import { EXIT } from "../../errors.ts";
// Types only: the handler module itself is imported when a command runs.
import type * as Handlers from "./index.ts";

type Act = ActOf<typeof Handlers>;

/** What a load test can be asked for: a k6 process holds 30-40k VUs; a p99 bound beyond 10 min bounds nothing. */
const RANGES = {
  vusOneRunner: wholeNumber(1, 50_000),
  rate: decimal(0, 1_000_000),
  duration: duration(["ms", "s", "m", "h"], 1, 86_400),
  maxP99: decimal(0, 600_000, { what: "a number of ms" }),
};

interface RunOpts {
  target: string;
  stack: string;
  vus?: number;
  rate?: number;
  duration?: string;
  maxP99?: number;
  env?: string[];
}

interface TestRunOpts {
  target: string;
  parallelism: number;
  vus?: number;
  rate?: number;
  duration?: string;
  maxP99?: number;
}

export function register(program: Command, sink: Sink): void {
  const act: Act = lazyActions(sink, () => import("./index.ts"));
  const loadtest = program.command("loadtest").description("k6 load tests against the platform, as gates");
  loadtest
    .command("list")
    .description("the scenarios under loadtests/")
    .action(
      act((m) => {
        const r = m.list();
        return outcome(r, m.renderList(r));
      }),
    );
  registerRun(loadtest, act);
  registerTestRun(loadtest, act);
}

function registerRun(loadtest: Command, act: Act): void {
  const run = loadtest
    .command("run")
    .description("run one scenario with k6; exits 99 when a threshold is breached")
    .argument("<scenario>", "a scenario name (imctl loadtest list)")
    .option("-t, --target <local|url>", "the local target, or the platform's edge URL", STRINGS.localOrEdge, "local")
    .addOption(stackOption())
    .option("--vus <n>", "virtual users (connections), 1 to 50,000 (one k6 process)", RANGES.vusOneRunner)
    .option("--rate <n>", "messages (or sign-ins) per second in total, at most 1,000,000", RANGES.rate)
    .option("--duration <d>", "sending window, e.g. 30s or 5m (1s to 24h)", RANGES.duration)
    .option("--max-p99 <ms>", "p99 delivery latency bound in ms (default 150, the seed's bar)", RANGES.maxP99)
    .option("-e, --env <NAME=value...>", "extra scenario settings, e.g. SIZE=large", envPair)
    .action(
      act(async (m, scenario: string, opts: RunOpts, cmd: Command) => {
        const stackGiven = cmd.getOptionValueSource("stack") === "cli";
        const r = await m.run(scenario, { ...opts, stackGiven, progress });
        return outcome(r, m.renderRun(r), r.passed ? EXIT.ok : r.k6ExitCode === 0 ? EXIT.thresholds : r.k6ExitCode);
      }),
    );
  examples(run, [
    "loadtest run smoke",
    "loadtest run messaging --vus 100 --rate 100 --duration 60s",
    "loadtest run group-fanout -e SIZE=large",
    "loadtest run smoke --target http://127.0.0.1:18080 --max-p99 100 --json",
  ]);
}

function registerTestRun(loadtest: Command, act: Act): void {
  loadtest
    .command("testrun")
    .description("print the k6-operator TestRun of a distributed run on the kubernetes target (kubectl apply -f -)")
    .argument("<scenario>", "a scenario name (imctl loadtest list)")
    .requiredOption("-t, --target <url>", "the platform's edge URL as the runner pods reach it", STRINGS.runnerEdge)
    .option("--parallelism <n>", "runner pods sharing the load (1 to 1,000)", wholeNumber(1, 1000), 4)
    .option("--vus <n>", "virtual users in total, 1 to 1,000,000", wholeNumber(1, 1_000_000))
    .option("--rate <n>", "messages (or sign-ins) per second in total, at most 1,000,000", RANGES.rate)
    .option("--duration <d>", "sending window, e.g. 30s or 5m (1s to 24h)", RANGES.duration)
    .option("--max-p99 <ms>", "p99 delivery latency bound in ms", RANGES.maxP99)
    .action(
      act((m, scenario: string, opts: TestRunOpts) => {
        const r = m.testrun(scenario, opts);
        return outcome(r.manifest, r.yaml.trimEnd());
      }),
    );
}
