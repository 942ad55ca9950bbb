/** `imctl preview`: pulumi preview of a kubernetes stack with the policy pack. */
import type { Command } from "commander";
import { examples, lazyActions, outcome, progress, type Sink } from "../command.ts";

export function register(program: Command, sink: Sink): void {
  const act = lazyActions(sink, () => import("./index.ts"));
  const preview = program
    .command("preview")
    .description(
      "pulumi preview of a kubernetes stack with the policy pack, through the Automation API (needs the Pulumi CLI " +
        "and cloud credentials)",
    )
    .requiredOption("-s, --stack <name>", "stack name under stacks/ (aws-prod, alicloud-prod, multicloud)")
    .action(
      act(async (m, opts: { stack: string }) => {
        const r = await m.preview({ ...opts, progress });
        return outcome(r, m.renderPreview(r));
      }),
    );
  examples(preview, ["preview --stack aws-prod", "preview --stack multicloud --json"]);
}
