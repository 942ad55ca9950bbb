/** `imctl destroy`: pulumi destroy of a kubernetes stack. */
import type { Command } from "commander";
import { examples, lazyActions, outcome, progress, type Sink } from "../command.ts";

export function register(program: Command, sink: Sink): void {
  const act = lazyActions(sink, () => import("./index.ts"));
  const destroy = program
    .command("destroy")
    .description(
      "pulumi destroy of a kubernetes stack through the Automation API: deletes every resource (asks for --yes)",
    )
    .requiredOption(
      "-s, --stack <name>",
      "stack name under stacks/ (embedded-cluster, aws-prod, alicloud-prod, multicloud)",
    )
    .option("-y, --yes", "confirm deleting every resource of the stack")
    .action(
      act(async (m, opts: { stack: string; yes?: boolean }) => {
        const r = await m.destroy({ ...opts, progress });
        return outcome(r, m.renderDestroy(r), r.result === "succeeded" ? 0 : 1);
      }),
    );
  examples(destroy, ["destroy --stack embedded-cluster --yes", "destroy --stack embedded-cluster --yes --json"]);
}
