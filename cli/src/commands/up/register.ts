/** `imctl up`: pulumi up of a kubernetes stack with the policy pack. */
import type { Command } from "commander";
import { examples, lazyActions, outcome, progress, type Sink } from "../command.ts";

export function register(program: Command, sink: Sink): void {
  const act = lazyActions(sink, () => import("./index.ts"));
  const up = program
    .command("up")
    .description(
      "pulumi up of a kubernetes stack through the Automation API, after the policy pack passed on a preview (asks for --yes)",
    )
    .requiredOption(
      "-s, --stack <name>",
      "stack name under stacks/ (embedded-cluster, aws-prod, alicloud-prod, multicloud)",
    )
    .option("-y, --yes", "confirm creating, changing and deleting the stack's resources")
    .action(
      act(async (m, opts: { stack: string; yes?: boolean }) => {
        const r = await m.up({ ...opts, progress });
        return outcome(r, m.renderUp(r), r.result === "succeeded" ? 0 : 1);
      }),
    );
  examples(up, ["up --stack embedded-cluster --yes", "up --stack aws-prod --yes --json"]);
}
