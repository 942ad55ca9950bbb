/** `imctl rollout ...`: canary releases with metric analysis and automatic rollback. */
import { type Command, Option } from "commander";
import { type Act as ActOf, examples, lazyActions, outcome, progress, type Sink, stackOption } from "../command.ts";
// Types only: the handler module itself is imported when a command runs.
import type * as Handlers from "./index.ts";
import { envPair, STRINGS } from "../flags.ts";

type Act = ActOf<typeof Handlers>;

/** The options every rollout command takes to find its target, after the command's own. */
type RolloutOpts = {
  target?: string;
  stack: string;
  namespace?: string;
  context?: string;
  prometheus?: string;
  imageRepo?: string;
  edge?: string;
};

const SERVICE = ["<service>", "gateway, message or user-center"] as const;

function targetOptions(c: Command): Command {
  return c
    .addOption(
      new Option("-t, --target <target>", "where the service runs (default: the stack's target)").choices([
        "local",
        "kubernetes",
      ]),
    )
    .addOption(stackOption())
    .option(
      "--namespace <ns>",
      "kubernetes: namespace of the IM services (default: the stack's kubernetes.namespace)",
      STRINGS.namespace,
    )
    .option("--context <name>", "kubernetes: kubeconfig context (default: the current one)", STRINGS.context)
    .option(
      "--prometheus <url>",
      "kubernetes: Prometheus base URL for the analysis (default: the stack's kubernetes.prometheus)",
      STRINGS.prometheus,
    )
    .option(
      "--image-repo <repo>",
      "kubernetes: image repository of the services, e.g. registry.example.com/im",
      STRINGS.imageRepo,
    )
    .option(
      "--edge <url>",
      "kubernetes: the platform's edge URL, for load-test gates in the strategy (the embedded cluster's is found by itself)",
      STRINGS.edge,
    );
}

/** An aborted rollout is the command's failure; every other phase it ends in is not. */
const rolloutExit = (phase: string) => (phase === "Aborted" ? 1 : 0);

export function register(program: Command, sink: Sink): void {
  const act: Act = lazyActions(sink, () => import("./index.ts"));
  const rollout = program.command("rollout").description("canary releases with metric analysis and automatic rollback");
  registerRun(rollout, act);
  registerControl(rollout, act);
  registerRecord(rollout, act);
}

/** start, resume: the commands that run the rollout's controller in the foreground. */
function registerRun(rollout: Command, act: Act): void {
  const start = targetOptions(
    rollout
      .command("start")
      .description(
        "start a canary of <service> on --version and run its steps in the foreground (default: 10 %, 30 %, 100 %, " +
          "each analysed)",
      )
      .argument(...SERVICE)
      .requiredOption(
        "--version <v>",
        "the new version (image tag; on the local target the SERVICE_VERSION label)",
        STRINGS.imageTag,
      )
      .option(
        "--strategy <file>",
        "steps as YAML or JSON (runbooks/canary-release.md); default: the seed's 10/30/100 with analysis",
      )
      .option(
        "-e, --env <NAME=value...>",
        "extra environment of the canary instances (a setting the new version starts with)",
        envPair,
      ),
  ).action(
    act(async (m, service: string, opts: RolloutOpts & { version: string; strategy?: string; env?: string[] }) => {
      const r = await m.start(service, { ...opts, progress });
      return outcome(r, m.renderStatus(r), rolloutExit(r.phase));
    }),
  );
  examples(start, [
    "rollout start gateway --version 1.4.0",
    "rollout start message --version 2.1.0 --strategy release.yaml",
    "rollout start user-center --version 1.5.0 -e FEATURE_X=on",
  ]);
  targetOptions(
    rollout
      .command("resume")
      .description("continue a rollout whose imctl was killed (runs its controller here)")
      .argument(...SERVICE),
  ).action(
    act(async (m, service: string, opts: RolloutOpts) => {
      const r = await m.resume(service, { ...opts, progress });
      return outcome(r, m.renderStatus(r), rolloutExit(r.phase));
    }),
  );
}

/** status, promote, pause, abort: what an operator does to a running rollout from another terminal. */
function registerControl(rollout: Command, act: Act): void {
  const status = targetOptions(
    rollout
      .command("status")
      .description("phase, step, canary weight, last measurements and the picture of a service's rollout")
      .argument(...SERVICE)
      .option("-w, --watch", "follow it until it is Promoted or Aborted (changes on stderr)"),
  ).action(
    act(async (m, service: string, opts: RolloutOpts & { watch?: boolean }) => {
      const r = await m.status(service, { ...opts, progress });
      return outcome(r, m.renderStatus(r));
    }),
  );
  examples(status, ["rollout status gateway", "rollout status gateway --watch", "rollout status message --json"]);
  const promote = targetOptions(
    rollout
      .command("promote")
      .description("step past the current pause or analysis (--full: straight to 100 %)")
      .argument(...SERVICE)
      .option("--full", "skip every remaining step and promote now"),
  ).action(
    act(async (m, service: string, opts: RolloutOpts & { full?: boolean }) => {
      const r = await m.promote(service, { ...opts, progress });
      return outcome(r, m.renderStatus(r));
    }),
  );
  examples(promote, ["rollout promote gateway", "rollout promote gateway --full"]);
  targetOptions(
    rollout
      .command("pause")
      .description("hold the rollout at its current weight until promoted")
      .argument(...SERVICE),
  ).action(
    act(async (m, service: string, opts: RolloutOpts) => {
      const r = await m.pause(service, { ...opts, progress });
      return outcome(r, m.renderStatus(r));
    }),
  );
  const abort = targetOptions(
    rollout
      .command("abort")
      .description("traffic back to stable, canary drained and scaled down, reason recorded")
      .argument(...SERVICE)
      .option("--reason <text>", "why, for the audit log (one line, at most 500 characters)", STRINGS.reason),
  ).action(
    act(async (m, service: string, opts: RolloutOpts & { reason?: string }) => {
      const r = await m.abort(service, { ...opts, progress });
      return outcome(r, m.renderStatus(r));
    }),
  );
  examples(abort, ["rollout abort gateway", 'rollout abort message --reason "p99 over 150 ms at 30 %"']);
}

/** undo, history: the releases before this one and the audit log. */
function registerRecord(rollout: Command, act: Act): void {
  targetOptions(
    rollout
      .command("undo")
      .description("put the stable instances back on the release before the last promotion (asks for --yes)")
      .argument(...SERVICE)
      .option("-y, --yes", "confirm replacing the stable instances"),
  ).action(
    act(async (m, service: string, opts: RolloutOpts & { yes?: boolean }) => {
      const r = await m.undo(service, { ...opts, progress });
      return outcome(r, m.renderUndo(r));
    }),
  );
  targetOptions(
    rollout
      .command("history")
      .description("past rollouts of a service and the audit log of every transition")
      .argument(...SERVICE),
  ).action(
    act(async (m, service: string, opts: RolloutOpts) => {
      const r = await m.history(service, opts);
      return outcome(r, m.renderHistory(r));
    }),
  );
}
