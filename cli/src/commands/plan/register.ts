/** `imctl plan`: what the Pulumi program would create for a kubernetes stack, offline. */
import type { Command } from "commander";
import { examples, lazyActions, outcome, type Sink } from "../command.ts";

export function register(program: Command, sink: Sink): void {
  const act = lazyActions(sink, () => import("./index.ts"));
  const plan = program
    .command("plan")
    .description(
      "what the Pulumi program would create for a kubernetes stack: resources by layer, CIDR plan, policies, " +
        "cost (offline, under mocks)",
    )
    .requiredOption(
      "-s, --stack <name|file>",
      "stack name under stacks/ (aws-prod, alicloud-prod, multicloud), or a stack file path",
    )
    .action(
      act(async (m, opts: { stack: string }) => {
        const r = await m.plan(opts);
        return outcome(r, m.renderPlan(r), r.policyViolations.length === 0 ? 0 : 1);
      }),
    );
  examples(plan, ["plan --stack aws-prod", "plan --stack alicloud-prod", "plan --stack multicloud --json"]);
}
