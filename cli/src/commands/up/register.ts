/** `imctl up`: pulumi up of a kubernetes stack with the policy pack. */
import type { Command } from "commander";
import { examples, lazyActions, outcome, progress, type Sink } from "../command.ts";

export function register(program: Command, sink: Sink): void {
  const act = lazyActions(sink, () => import("./index.ts"));
  const up = program
    .command("up")
    .description("pulumi up of a kubernetes stack with the policy pack, through the Automation API (asks for --yes)")
    .requiredOption("-s, --stack <name>", "stack name under stacks/ (aws-prod, alicloud-prod, multicloud)")
    .option("-y, --yes", "confirm creating, changing and deleting cloud resources")
    .action(
      act(async (m, opts: { stack: string; yes?: boolean }) => {
        const r = await m.up({ ...opts, progress });
        return outcome(r, m.renderUp(r), r.result === "succeeded" ? 0 : 1);
      }),
    );
  examples(up, ["up --stack aws-prod --yes", "up --stack alicloud-prod --yes --json"]);
}
