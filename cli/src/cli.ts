/**
 * The command table. Handlers are imported lazily so `imctl --help` stays fast; each returns data, and the
 * entry point (index.ts) prints it as text or JSON and sets the exit code.
 */
import { Command, InvalidArgumentError, Option } from "commander";

export interface Outcome {
  data: unknown;
  text: string;
  exitCode: number;
}

export type Sink = (o: Outcome) => void;

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidArgumentError(`got ${JSON.stringify(value)}; allowed: a whole number above 0`);
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`got ${JSON.stringify(value)}; allowed: a number above 0`);
  return n;
}

const stackOption = () =>
  new Option("-s, --stack <name|file>", "stack name under stacks/, or a stack file path").default("local");

export function buildProgram(sink: Sink): Command {
  const program = new Command("imctl")
    .description("Operate the IM platform and its local target")
    .option("--json", "print the result as JSON (for CI)")
    .showHelpAfterError()
    .exitOverride();

  const local = program.command("local").description("the whole platform as real processes on this machine");
  local
    .command("up")
    .description("start (or repair) Redis Cluster, Kafka, MariaDB, nginx, Prometheus and the exporters")
    .addOption(stackOption())
    .action(async (opts: { stack: string }) => {
      const m = await import("./commands/local/index.ts");
      const r = await m.up(opts);
      sink({ data: r, text: m.renderUp(r), exitCode: r.healthy ? 0 : 1 });
    });
  local
    .command("status")
    .description("health of every component and of the platform checks")
    .addOption(stackOption())
    .action(async (opts: { stack: string }) => {
      const m = await import("./commands/local/index.ts");
      const r = await m.status(opts);
      sink({ data: r, text: m.renderStatus(r), exitCode: r.healthy ? 0 : 1 });
    });
  local
    .command("down")
    .description("stop every process the local target started (data is kept)")
    .addOption(stackOption())
    .action(async (opts: { stack: string }) => {
      const m = await import("./commands/local/index.ts");
      const r = await m.down(opts);
      sink({ data: r, text: m.renderDown(r), exitCode: 0 });
    });
  local
    .command("logs")
    .description("the last lines of one component's log")
    .argument("<component>", "component id, e.g. redis-1, kafka-2, mariadb, nginx, prometheus")
    .addOption(stackOption())
    .option("-n, --lines <n>", "how many lines", positiveInt, 100)
    .action(async (component: string, opts: { stack: string; lines: number }) => {
      const m = await import("./commands/local/index.ts");
      const r = await m.logs(component, opts);
      sink({ data: r, text: m.renderLogs(r), exitCode: 0 });
    });
  local
    .command("reset")
    .description("stop everything and delete all local data (asks for --yes)")
    .addOption(stackOption())
    .option("-y, --yes", "confirm deleting the data")
    .action(async (opts: { stack: string; yes?: boolean }) => {
      const m = await import("./commands/local/index.ts");
      const r = await m.reset(opts);
      sink({ data: r, text: m.renderReset(r), exitCode: 0 });
    });

  const loadtest = program.command("loadtest").description("k6 load tests against the platform, as gates");
  loadtest
    .command("list")
    .description("the scenarios under loadtests/")
    .action(async () => {
      const m = await import("./commands/loadtest/index.ts");
      const r = m.list();
      sink({ data: r, text: m.renderList(r), exitCode: 0 });
    });
  loadtest
    .command("run")
    .description("run one scenario with k6; exits 99 when a threshold is breached")
    .argument("<scenario>", "a scenario name (imctl loadtest list)")
    .option("-t, --target <local|url>", "the local target, or the platform's edge URL", "local")
    .addOption(stackOption())
    .option("--vus <n>", "virtual users (connections)", positiveInt)
    .option("--rate <n>", "messages (or sign-ins) per second in total", positiveNumber)
    .option("--duration <d>", "sending window, e.g. 30s or 5m")
    .option("--max-p99 <ms>", "p99 delivery latency bound in ms (default 150, the seed's bar)", positiveNumber)
    .option("-e, --env <NAME=value...>", "extra scenario settings, e.g. SIZE=large")
    .action(
      async (
        scenario: string,
        opts: {
          target: string;
          stack: string;
          vus?: number;
          rate?: number;
          duration?: string;
          maxP99?: number;
          env?: string[];
        },
      ) => {
        const m = await import("./commands/loadtest/index.ts");
        const r = await m.run(scenario, { ...opts, progress: (line) => process.stderr.write(`${line}\n`) });
        sink({ data: r, text: m.renderRun(r), exitCode: r.passed ? 0 : r.k6ExitCode === 0 ? 99 : r.k6ExitCode });
      },
    );

  program
    .command("plan")
    .description(
      "what the Pulumi program would create for a kubernetes stack: resources by layer, CIDR plan, policies, cost (offline, under mocks)",
    )
    .requiredOption(
      "-s, --stack <name|file>",
      "stack name under stacks/ (aws-prod, alicloud-prod, multicloud), or a stack file path",
    )
    .action(async (opts: { stack: string }) => {
      const m = await import("./commands/plan/index.ts");
      const r = await m.plan(opts);
      sink({ data: r, text: m.renderPlan(r), exitCode: r.policyViolations.length === 0 ? 0 : 1 });
    });
  program
    .command("preview")
    .description(
      "pulumi preview of a kubernetes stack with the policy pack, through the Automation API (needs the Pulumi CLI and cloud credentials)",
    )
    .requiredOption("-s, --stack <name>", "stack name under stacks/ (aws-prod, alicloud-prod, multicloud)")
    .action(async (opts: { stack: string }) => {
      const m = await import("./commands/preview/index.ts");
      const r = await m.preview({ ...opts, progress: (line) => process.stderr.write(`${line}\n`) });
      sink({ data: r, text: m.renderPreview(r), exitCode: 0 });
    });
  program
    .command("up")
    .description("pulumi up of a kubernetes stack with the policy pack, through the Automation API (asks for --yes)")
    .requiredOption("-s, --stack <name>", "stack name under stacks/ (aws-prod, alicloud-prod, multicloud)")
    .option("-y, --yes", "confirm creating, changing and deleting cloud resources")
    .action(async (opts: { stack: string; yes?: boolean }) => {
      const m = await import("./commands/up/index.ts");
      const r = await m.up({ ...opts, progress: (line) => process.stderr.write(`${line}\n`) });
      sink({ data: r, text: m.renderUp(r), exitCode: r.result === "succeeded" ? 0 : 1 });
    });

  loadtest
    .command("testrun")
    .description("print the k6-operator TestRun of a distributed run on the kubernetes target (kubectl apply -f -)")
    .argument("<scenario>", "a scenario name (imctl loadtest list)")
    .requiredOption("-t, --target <url>", "the platform's edge URL as the runner pods reach it")
    .option("--parallelism <n>", "runner pods sharing the load", positiveInt, 4)
    .option("--vus <n>", "virtual users in total", positiveInt)
    .option("--rate <n>", "messages (or sign-ins) per second in total", positiveNumber)
    .option("--duration <d>", "sending window, e.g. 30s or 5m")
    .option("--max-p99 <ms>", "p99 delivery latency bound in ms", positiveNumber)
    .action(
      async (
        scenario: string,
        opts: { target: string; parallelism: number; vus?: number; rate?: number; duration?: string; maxP99?: number },
      ) => {
        const m = await import("./commands/loadtest/index.ts");
        const r = m.testrun(scenario, opts);
        sink({ data: r.manifest, text: r.yaml.trimEnd(), exitCode: 0 });
      },
    );

  const bandwidth = program
    .command("bandwidth")
    .description("gateway bandwidth: audit, plan, upgrade with canary verification, rollback");
  const share = (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || n > 1)
      throw new InvalidArgumentError(`got ${JSON.stringify(value)}; allowed: a share above 0 and at most 1, e.g. 0.7`);
    return n;
  };
  bandwidth
    .command("audit")
    .description(
      "egress utilisation per gateway and in total, by hour, connections, backlog, latency; flags saturation, growth, bandwidth bottlenecks",
    )
    .addOption(stackOption())
    .option("--since <window>", "how far back, e.g. 30m, 24h, 7d", "24h")
    .option("--sustained <duration>", "how long utilisation must stay over the line to be flagged (default 5m)")
    .option("--target-utilisation <share>", "the utilisation line (default 0.7, the seed's alert)", share)
    .action(async (opts: { stack: string; since: string; sustained?: string; targetUtilisation?: number }) => {
      const m = await import("./commands/bandwidth/index.ts");
      const r = await m.audit(opts);
      sink({ data: r, text: m.renderAudit(r), exitCode: 0 });
    });
  bandwidth
    .command("plan")
    .description(
      "capacity needed with headroom, options with their cost, rollback plan, low-traffic window; writes a plan file",
    )
    .addOption(stackOption())
    .option("--since <window>", "the audit window the peak comes from", "24h")
    .option("--growth <percent>", "traffic growth to plan for, e.g. 20% (default 20%)")
    .option("--target-utilisation <share>", "utilisation at peak after the upgrade (default 0.7)", share)
    .option("--history <window>", "traffic history searched for the low-traffic window (default 7d)")
    .option("--sustained <duration>", "as for audit (default 5m)")
    .option("-o, --out <file>", "where to write the plan (default under the state dir, bandwidth/plans/)")
    .action(
      async (opts: {
        stack: string;
        since: string;
        growth?: string;
        targetUtilisation?: number;
        history?: string;
        sustained?: string;
        out?: string;
      }) => {
        const m = await import("./commands/bandwidth/index.ts");
        const r = await m.plan(opts);
        sink({ data: { file: r.file, plan: r.plan }, text: m.renderPlan(r), exitCode: 0 });
      },
    );
  bandwidth
    .command("upgrade")
    .description(
      "apply a plan: backup, shift traffic, adjust, canary verify (k6), cut over, watch; rolls back by itself on a failed verification",
    )
    .addOption(stackOption())
    .option("--plan <file>", "the plan file written by imctl bandwidth plan")
    .option("-y, --yes", "confirm changing the live gateways")
    .option("--resume", "continue an interrupted upgrade from its next step")
    .option("--watch <duration>", "how long to watch after the cut-over (default: the plan's watch.duration)")
    .action(async (opts: { stack: string; plan?: string; yes?: boolean; resume?: boolean; watch?: string }) => {
      const m = await import("./commands/bandwidth/index.ts");
      const r = await m.upgrade(opts);
      sink({ data: r, text: m.renderUpgrade(r), exitCode: r.phase === "Succeeded" ? 0 : 1 });
    });
  bandwidth
    .command("rollback")
    .description("restore the gateways' caps from the last upgrade's backup")
    .addOption(stackOption())
    .option("-y, --yes", "confirm changing the live gateways")
    .option("--id <upgrade>", "an older upgrade to undo (default: the last)")
    .action(async (opts: { stack: string; yes?: boolean; id?: string }) => {
      const m = await import("./commands/bandwidth/index.ts");
      const r = await m.rollback(opts);
      sink({ data: r, text: m.renderRollback(r), exitCode: 0 });
    });
  bandwidth
    .command("status")
    .description("the gateways' caps now and the last upgrade's phase")
    .addOption(stackOption())
    .action(async (opts: { stack: string }) => {
      const m = await import("./commands/bandwidth/index.ts");
      const r = await m.status(opts);
      sink({ data: r, text: m.renderStatus(r), exitCode: 0 });
    });

  const drill = program
    .command("drill")
    .description("failover drills that report detection, recovery time and message loss");
  drill
    .command("run")
    .description(
      "inject one fault under a message probe, restore, verify; exits 1 when recovery is over budget or an acknowledged message was lost",
    )
    .argument(
      "<fault>",
      "redis-primary, kafka-broker, db, gateway-instance, message-instance, user-center-instance, random-instance, partition",
    )
    .option("-t, --target <local|kubernetes>", "where the platform runs", "local")
    .addOption(stackOption())
    .option(
      "-d, --duration <d>",
      "longest observation after the injection, e.g. 30s (default 30s; ends early once stable)",
    )
    .option("--load <scenario>", "run a k6 scenario (imctl loadtest list) alongside the probe")
    .option("--mode <hard|graceful>", "kafka-broker: SIGKILL (hard, default) or SIGTERM (controlled shutdown)")
    .option("--instance <id>", "the component to hit instead of the drill's pick, e.g. gateway-2, kafka-3, message-1")
    .option("--partition-seconds <d>", "partition: how long the instance stays cut off (default 10s)")
    .option("--seed <n>", "random-instance: the seed of the pick (printed by every run)")
    .option(
      "--budget <d>",
      "recovery budget instead of the fault's default (redis-primary 10s, kafka-broker 15s, db 30s, gateway-instance 10s, message-instance 5s)",
    )
    .option("--guard <promql>", "stop condition: when any sample of this query is above 0, restore at once")
    .option("-y, --yes", "confirm injecting a real fault")
    .action(
      async (
        fault: string,
        opts: {
          target: string;
          stack: string;
          duration?: string;
          load?: string;
          mode?: string;
          instance?: string;
          partitionSeconds?: string;
          seed?: string;
          budget?: string;
          guard?: string;
          yes?: boolean;
        },
      ) => {
        const m = await import("./commands/drill/index.ts");
        const r = await m.run(fault, { ...opts, progress: (line) => process.stderr.write(`${line}\n`) });
        sink({ data: r, text: m.renderRun(r), exitCode: r.passed ? 0 : r.abortedBy === "interrupt" ? 130 : 1 });
      },
    );
  drill
    .command("restore")
    .description(
      "back up the database, destroy it, restore it, verify row counts and checksums, report the RTO (asks for --yes)",
    )
    .option("-t, --target <local|kubernetes>", "where the platform runs", "local")
    .addOption(stackOption())
    .option("--budget <d>", "RTO budget (default 15m, the seed's)")
    .option("-y, --yes", "confirm destroying and restoring the database")
    .action(async (opts: { target: string; stack: string; budget?: string; yes?: boolean }) => {
      const m = await import("./commands/drill/index.ts");
      const r = await m.restore({ ...opts, progress: (line) => process.stderr.write(`${line}\n`) });
      sink({ data: r, text: m.renderRestore(r), exitCode: r.passed ? 0 : 1 });
    });

  program
    .command("doctor")
    .description(
      "daily health check: components, replication, firing alerts, backlog, disk, certificates; exits 1 naming what is broken",
    )
    .addOption(stackOption())
    .option(
      "--min-disk-free <percent>",
      "fail when a data filesystem has less free space than this (default 10)",
      positiveNumber,
    )
    .option("--max-backlog <n>", "fail when more stored messages wait for fan-out (default 1000)", positiveInt)
    .action(async (opts: { stack: string; minDiskFree?: number; maxBacklog?: number }) => {
      const m = await import("./commands/doctor/index.ts");
      const r = await m.doctor(opts);
      sink({ data: r, text: m.renderDoctor(r), exitCode: r.healthy ? 0 : 1 });
    });

  const rollout = program.command("rollout").description("canary releases with metric analysis and automatic rollback");
  const rolloutTarget = (c: Command) =>
    c
      .addOption(
        new Option("-t, --target <target>", "where the service runs").choices(["local", "kubernetes"]).default("local"),
      )
      .addOption(stackOption())
      .option("--namespace <ns>", "kubernetes: namespace of the IM services", "im")
      .option("--context <name>", "kubernetes: kubeconfig context (default: the current one)")
      .option("--prometheus <url>", "kubernetes: Prometheus base URL for the analysis")
      .option("--image-repo <repo>", "kubernetes: image repository of the services, e.g. registry.example.com/im")
      .option("--edge <url>", "kubernetes: the platform's edge URL, for load-test gates in the strategy");
  type RolloutOpts = {
    target: string;
    stack: string;
    namespace?: string;
    context?: string;
    prometheus?: string;
    imageRepo?: string;
    edge?: string;
  };
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const rolloutExit = (phase: string) => (phase === "Aborted" ? 1 : 0);
  rolloutTarget(
    rollout
      .command("start")
      .description(
        "start a canary of <service> on --version and run its steps in the foreground (default: 10 %, 30 %, 100 %, each analysed)",
      )
      .argument("<service>", "gateway, message or user-center")
      .requiredOption("--version <v>", "the new version (image tag; on the local target the SERVICE_VERSION label)")
      .option(
        "--strategy <file>",
        "steps as YAML or JSON (runbooks/canary-release.md); default: the seed's 10/30/100 with analysis",
      )
      .option(
        "-e, --env <NAME=value...>",
        "extra environment of the canary instances (a setting the new version starts with)",
      ),
  ).action(async (service: string, opts: RolloutOpts & { version: string; strategy?: string; env?: string[] }) => {
    const m = await import("./commands/rollout/index.ts");
    const r = await m.start(service, { ...opts, progress });
    sink({ data: r, text: m.renderStatus(r), exitCode: rolloutExit(r.phase) });
  });
  rolloutTarget(
    rollout
      .command("resume")
      .description("continue a rollout whose imctl was killed (runs its controller here)")
      .argument("<service>", "gateway, message or user-center"),
  ).action(async (service: string, opts: RolloutOpts) => {
    const m = await import("./commands/rollout/index.ts");
    const r = await m.resume(service, { ...opts, progress });
    sink({ data: r, text: m.renderStatus(r), exitCode: rolloutExit(r.phase) });
  });
  rolloutTarget(
    rollout
      .command("status")
      .description("phase, step, canary weight, last measurements and the picture of a service's rollout")
      .argument("<service>", "gateway, message or user-center")
      .option("-w, --watch", "follow it until it is Promoted or Aborted (changes on stderr)"),
  ).action(async (service: string, opts: RolloutOpts & { watch?: boolean }) => {
    const m = await import("./commands/rollout/index.ts");
    const r = await m.status(service, { ...opts, progress });
    sink({ data: r, text: m.renderStatus(r), exitCode: 0 });
  });
  rolloutTarget(
    rollout
      .command("promote")
      .description("step past the current pause or analysis (--full: straight to 100 %)")
      .argument("<service>", "gateway, message or user-center")
      .option("--full", "skip every remaining step and promote now"),
  ).action(async (service: string, opts: RolloutOpts & { full?: boolean }) => {
    const m = await import("./commands/rollout/index.ts");
    const r = await m.promote(service, { ...opts, progress });
    sink({ data: r, text: m.renderStatus(r), exitCode: 0 });
  });
  rolloutTarget(
    rollout
      .command("pause")
      .description("hold the rollout at its current weight until promoted")
      .argument("<service>", "gateway, message or user-center"),
  ).action(async (service: string, opts: RolloutOpts) => {
    const m = await import("./commands/rollout/index.ts");
    const r = await m.pause(service, { ...opts, progress });
    sink({ data: r, text: m.renderStatus(r), exitCode: 0 });
  });
  rolloutTarget(
    rollout
      .command("abort")
      .description("traffic back to stable, canary drained and scaled down, reason recorded")
      .argument("<service>", "gateway, message or user-center")
      .option("--reason <text>", "why, for the audit log"),
  ).action(async (service: string, opts: RolloutOpts & { reason?: string }) => {
    const m = await import("./commands/rollout/index.ts");
    const r = await m.abort(service, { ...opts, progress });
    sink({ data: r, text: m.renderStatus(r), exitCode: 0 });
  });
  rolloutTarget(
    rollout
      .command("undo")
      .description("put the stable instances back on the release before the last promotion (asks for --yes)")
      .argument("<service>", "gateway, message or user-center")
      .option("-y, --yes", "confirm replacing the stable instances"),
  ).action(async (service: string, opts: RolloutOpts & { yes?: boolean }) => {
    const m = await import("./commands/rollout/index.ts");
    const r = await m.undo(service, { ...opts, progress });
    sink({ data: r, text: m.renderUndo(r), exitCode: 0 });
  });
  rolloutTarget(
    rollout
      .command("history")
      .description("past rollouts of a service and the audit log of every transition")
      .argument("<service>", "gateway, message or user-center"),
  ).action(async (service: string, opts: RolloutOpts) => {
    const m = await import("./commands/rollout/index.ts");
    const r = await m.history(service, opts);
    sink({ data: r, text: m.renderHistory(r), exitCode: 0 });
  });

  const tools = program.command("tools").description("the tools the toolkit runs on, under .tools/");
  tools
    .command("install")
    .description("install or update the local target's tools (as npm start does); --all adds the test-only ones")
    .option("--all", "also the tools only tests need (kube-apiserver, etcd), as npm test does")
    .action(async (opts: { all?: boolean }) => {
      const m = await import("./commands/tools/index.ts");
      const r = await m.install({ all: opts.all === true });
      sink({ data: r, text: m.renderInstall(r), exitCode: 0 });
    });
  tools
    .command("status")
    .description("each tool, its version, who needs it and where it is; exits 1 when a local tool is missing")
    .action(async () => {
      const m = await import("./commands/tools/index.ts");
      const r = await m.status();
      sink({ data: r, text: m.renderStatus(r), exitCode: r.localInstalled ? 0 : 1 });
    });

  return program;
}
