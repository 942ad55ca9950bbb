/** `imctl preview`: pulumi preview of a kubernetes stack with the policy pack. */
import type { Command } from "commander";
import { examples, lazyActions, outcome, progress, type Sink } from "../command.ts";

export function register(program: Command, sink: Sink): void {
  const act = lazyActions(sink, () => import("./index.ts"));
  const preview = program
    .command("preview")
    .description(
      "pulumi preview of a kubernetes stack through the Automation API, with the policy pack's verdict (needs the " +
        "Pulumi CLI, the stack's provider plugins and its cluster or cloud credentials)",
    )
    .requiredOption(
      "-s, --stack <name>",
      "stack name under stacks/ (embedded-cluster, aws-prod, alicloud-prod, multicloud)",
    )
    .action(
      act(async (m, opts: { stack: string }) => {
        const r = await m.preview({ ...opts, progress });
        return outcome(r, m.renderPreview(r), r.result === "refused" ? 1 : 0);
      }),
    );
  examples(preview, ["preview --stack embedded-cluster", "preview --stack aws-prod --json"]);
}
