/** `imctl local ...`: the whole platform as real processes on this machine. */
import type { Command } from "commander";
import { examples, lazyActions, outcome, type Sink, stackOption } from "../command.ts";
import { wholeNumber } from "../flags.ts";

type LocalOpts = { stack: string };

export function register(program: Command, sink: Sink): void {
  const act = lazyActions(sink, () => import("./index.ts"));
  const local = program.command("local").description("the whole platform as real processes on this machine");
  const up = local
    .command("up")
    .description("start (or repair) Redis Cluster, Kafka, MariaDB, nginx, Prometheus and the exporters")
    .addOption(stackOption())
    .action(
      act(async (m, opts: LocalOpts) => {
        const r = await m.up(opts);
        return outcome(r, m.renderUp(r), r.healthy ? 0 : 1);
      }),
    );
  examples(up, ["local up", "local up --stack stacks/local.yaml", "local up --json"]);
  const status = local
    .command("status")
    .description("health of every component and of the platform checks")
    .addOption(stackOption())
    .action(
      act(async (m, opts: LocalOpts) => {
        const r = await m.status(opts);
        return outcome(r, m.renderStatus(r), r.healthy ? 0 : 1);
      }),
    );
  examples(status, ["local status", "local status --json"]);
  local
    .command("down")
    .description("stop every process the local target started (data is kept)")
    .addOption(stackOption())
    .action(
      act(async (m, opts: LocalOpts) => {
        const r = await m.down(opts);
        return outcome(r, m.renderDown(r));
      }),
    );
  local
    .command("logs")
    .description("the last lines of one component's log")
    .argument("<component>", "component id, e.g. redis-1, kafka-2, mariadb, nginx, prometheus")
    .addOption(stackOption())
    .option("-n, --lines <n>", "how many lines (1 to 100,000)", wholeNumber(1, 100_000), 100)
    .action(
      act(async (m, component: string, opts: LocalOpts & { lines: number }) => {
        const r = await m.logs(component, opts);
        return outcome(r, m.renderLogs(r));
      }),
    );
  local
    .command("reset")
    .description("stop everything and delete all local data (asks for --yes)")
    .addOption(stackOption())
    .option("-y, --yes", "confirm deleting the data")
    .action(
      act(async (m, opts: LocalOpts & { yes?: boolean }) => {
        const r = await m.reset(opts);
        return outcome(r, m.renderReset(r));
      }),
    );
}
