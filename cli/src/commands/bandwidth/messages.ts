/**
 * The messages of imctl bandwidth (gateway bandwidth), asserted verbatim by tests. MESSAGES also carries the
 * shared ones of errors.ts, so a file of this command needs one import whichever it raises.
 */
import { MESSAGES as SHARED } from "../../errors.ts";

export const MESSAGES = {
  ...SHARED,
  badPlanField: (file: string, field: string, value: string, allowed: string) =>
    `plan ${file}: ${field}: got ${value}; allowed: ${allowed}`,
  planMissing: (file: string) => `--plan: cannot read ${file}; allowed: a plan file written by "imctl bandwidth plan"`,
  resumeWith: (flag: string) =>
    `${flag}: --resume continues the recorded upgrade with the plan and watch it started with; drop ${flag} (or ` +
    "--resume to start a new upgrade)",
  confirmUpgrade: "bandwidth upgrade changes the live gateways' capacity: pass --yes to confirm",
  confirmRollback:
    "bandwidth rollback restores the gateways' capacity from the last upgrade's backup: pass --yes to confirm",
  staleCap: (instance: string, now: number, planned: number) =>
    `change.gateways: ${instance} has a cap of ${now} B/s now, the plan was made for ${planned} B/s; allowed: a ` +
    `plan made against the current caps (run imctl bandwidth plan again)`,
  interruptedUpgrade: (id: string) =>
    `bandwidth upgrade ${id} was interrupted: continue it with "imctl bandwidth upgrade --resume --yes" or undo ` +
    `it with "imctl bandwidth rollback --yes"`,
  noUpgrade: "no bandwidth upgrade to act on on this target (imctl bandwidth upgrade --plan <file> --yes starts one)",
  noBackup: (id: string) =>
    `bandwidth upgrade ${id} has no backup to restore (it stopped before its backup step): nothing changed`,
  pulumiMissing: (change: string) =>
    `the pulumi CLI is not in .tools/bin or on PATH: nothing changed. Apply "${change}" with "pulumi up" where the CLI and ` +
    `credentials are, or install the CLI and run this again`,
  optionNotApplicable: (option: string, target: string, reason: string) =>
    `change.option: got "${option}"; not applicable on the ${target} target yet: ${reason}`,
} as const;
