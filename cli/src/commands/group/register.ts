/** `imctl group ...`: the sub-groups of large groups (docs/groups.md). */
import type { Command } from "commander";
import { examples, lazyActions, outcome, type Sink, stackOption } from "../command.ts";

export function register(program: Command, sink: Sink): void {
  const act = lazyActions(sink, () => import("./index.ts"));
  const group = program.command("group").description("large groups: sub-groups, members per sub-group, capacity");
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
}
