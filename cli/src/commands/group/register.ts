/** `imctl group ...`: the sub-groups of large groups and their growth workflow (docs/groups.md). */
import type { Command } from "commander";
import { examples, lazyActions, outcome, progress, type Sink, stackOption } from "../command.ts";
import { decimal, duration, wholeNumber } from "../flags.ts";
import type { MoveOptions } from "./grow.ts";

/** A move that ended rolled back (its analysis failed, or an operator rolled it back) is the command's failure. */
const moveExit = (phase: string) => (phase === "RolledBack" ? 1 : 0);

type MoveFlags = Omit<MoveOptions, "progress"> & { stack: string };

function moveOptions(c: Command): Command {
  return c
    .addOption(stackOption())
    .option(
      "--step-pause <duration>",
      "how long each switch step is observed against the sub-groups' fan-out backlog and lag, delivery latency and " +
        "notify errors (default: 5m)",
      duration(["ms", "s", "m"], 0, 3600),
    )
    .option(
      "--rate <members/s>",
      "the move's own writes: members switched (or reverted) per second (default: 200)",
      wholeNumber(1, 10_000),
    )
    .option(
      "--max-behind <entries>",
      "analysis: a sub-group's fan-out backlog above this fails a look; 3 failed looks in a row roll back (default: 1000)",
      wholeNumber(0, 1_000_000_000),
    )
    .option(
      "--max-lag <seconds>",
      "analysis: a sub-group's fan-out lag above this fails a look (default: 10)",
      decimal(0, 3600, { what: "seconds" }),
    )
    .option(
      "--max-latency-p99 <seconds>",
      "analysis: the platform's delivery latency p99 over the last minute above this fails a look (default: 1)",
      decimal(0, 3600, { what: "seconds" }),
    )
    .option(
      "--max-notify-errors <count>",
      "analysis: more failed notifications to gateways in the last minute than this fail a look (default: 10)",
      wholeNumber(0, 1_000_000_000),
    );
}

export function register(program: Command, sink: Sink): void {
  const act = lazyActions(sink, () => import("./index.ts"));
  const moves = lazyActions(sink, () => import("./grow.ts"));
  const group = program
    .command("group")
    .description("large groups: sub-groups, members per sub-group, capacity; grow, rebalance, roll back");
  const status = group
    .command("status")
    .description("a group's sub-groups: members per sub-group, capacity and warn state, fan-out backlog, pending moves")
    .argument("<id>", "the group's id (decimal)")
    .addOption(stackOption())
    .action(
      act(async (m, id: string, opts: { stack: string }) => {
        const r = await m.status(id, opts);
        return outcome(r, m.renderStatus(r));
      }),
    );
  examples(status, ["group status 7301234567890123456", "group status 7301234567890123456 --json"]);

  const grow = moveOptions(
    group
      .command("grow")
      .description(
        "add sub-groups and move the members whose placement changes: dual write, switch in steps " +
          "(messaging.groups.switchSteps), each observed, backfill, finish; rolls back when a step's analysis fails",
      )
      .argument("<id>", "the group's id (decimal)")
      .option(
        "--sub-groups <n>",
        "the new sub-group count, above the current one and at most messaging.groups.maxSubGroups " +
          "(default: what the members need, one per subGroupCapacity)",
        wholeNumber(1, 1024),
      ),
  ).action(
    moves(async (m, id: string, opts: MoveFlags) => {
      const r = await m.grow(id, { ...opts, progress });
      return outcome(r, m.renderMove(r), moveExit(r.phase));
    }),
  );
  examples(grow, [
    "group grow 7301234567890123456",
    "group grow 7301234567890123456 --sub-groups 8 --step-pause 10m --rate 100",
  ]);

  const rebalance = moveOptions(
    group
      .command("rebalance")
      .description(
        "move the members not in their hash placement (those who were there before the group grew) into it, " +
          "with the same steps as grow",
      )
      .argument("<id>", "the group's id (decimal)"),
  ).action(
    moves(async (m, id: string, opts: MoveFlags) => {
      const r = await m.rebalance(id, { ...opts, progress });
      return outcome(r, m.renderMove(r), moveExit(r.phase));
    }),
  );
  examples(rebalance, ["group rebalance 7301234567890123456", "group rebalance 7301234567890123456 --json"]);

  const rollback = group
    .command("rollback")
    .description(
      "put the members of the group's open move back into their old sub-groups, the count back to what it was, and " +
        "backfill them (asks for --yes); a running grow or rebalance is asked to do it",
    )
    .argument("<id>", "the group's id (decimal)")
    .addOption(stackOption())
    .option("-y, --yes", "confirm moving the members back")
    .action(
      moves(async (m, id: string, opts: { stack: string; yes?: boolean }) => {
        const r = await m.rollback(id, { ...opts, progress });
        return outcome(r, m.renderMove(r));
      }),
    );
  examples(rollback, ["group rollback 7301234567890123456 --yes"]);
}
