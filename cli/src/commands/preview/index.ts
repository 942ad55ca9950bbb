/**
 * `imctl preview --stack <name>`: `pulumi preview` of the stack with the policy pack, through the Automation API
 * (cli/src/commands/automation.ts has the checks and the driver). Changes nothing in the clouds.
 */
import { renderPulumiRun, runPulumi, type PulumiRunOptions, type PulumiRunResult } from "../automation.ts";

export type PreviewOptions = Omit<PulumiRunOptions, "yes">;

export function preview(opts: PreviewOptions): Promise<PulumiRunResult> {
  return runPulumi("preview", opts);
}

export const renderPreview = renderPulumiRun;
