/**
 * `imctl destroy --stack <name> --yes`: `pulumi destroy` of the stack through the Automation API, inline
 * (cli/src/commands/automation.ts has the checks and the driver). Refused without --yes.
 */
import { renderPulumiRun, runPulumi, type PulumiRunOptions, type PulumiRunResult } from "../automation.ts";

export function destroy(opts: PulumiRunOptions): Promise<PulumiRunResult> {
  return runPulumi("destroy", opts);
}

export const renderDestroy = renderPulumiRun;
