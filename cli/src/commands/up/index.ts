/**
 * `imctl up --stack <name> --yes`: `pulumi up` of the stack with the policy pack, through the Automation API
 * (cli/src/commands/automation.ts has the checks and the driver). Refused without --yes.
 */
import { renderPulumiRun, runPulumi, type PulumiRunOptions, type PulumiRunResult } from "../automation.ts";

export function up(opts: PulumiRunOptions): Promise<PulumiRunResult> {
  return runPulumi("up", opts);
}

export const renderUp = renderPulumiRun;
