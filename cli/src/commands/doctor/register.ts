/** `imctl doctor`: the daily health check. */
import type { Command } from "commander";
import { examples, lazyActions, outcome, type Sink, stackOption } from "../command.ts";
import { decimal, wholeNumber } from "../flags.ts";

export function register(program: Command, sink: Sink): void {
  const act = lazyActions(sink, () => import("./index.ts"));
  const doctor = program
    .command("doctor")
    .description(
      "daily health check: components, replication, firing alerts, backlog, disk, certificates; exits 1 naming " +
        "what is broken",
    )
    .addOption(stackOption())
    .option(
      "--min-disk-free <percent>",
      "fail when a data filesystem has less free space than this (default 10; above 0, below 100)",
      decimal(0, 100, { maxExclusive: true, what: "a percentage" }),
    )
    .option(
      "--max-backlog <n>",
      "fail when more stored messages wait for fan-out (default 1000; 1 to 100,000,000)",
      wholeNumber(1, 100_000_000),
    )
    .action(
      act(async (m, opts: { stack: string; minDiskFree?: number; maxBacklog?: number }) => {
        const r = await m.doctor(opts);
        return outcome(r, m.renderDoctor(r), r.healthy ? 0 : 1);
      }),
    );
  examples(doctor, ["doctor", "doctor --json", "doctor --min-disk-free 20 --max-backlog 500"]);
}
