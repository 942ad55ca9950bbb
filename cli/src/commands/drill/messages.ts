/**
 * The messages of imctl drill (failover and restore drills), asserted verbatim by tests. MESSAGES also carries the
 * shared ones of errors.ts, so a file of this command needs one import whichever it raises.
 */
import { MESSAGES as SHARED } from "../../errors.ts";
import { TARGET_MESSAGES } from "../../targets/messages.ts";

export const MESSAGES = {
  ...SHARED,
  confirmDrill: (fault: string) => `drill run ${fault} injects a real fault into the platform: pass --yes to confirm`,
  confirmRestoreDrill:
    "drill restore destroys the platform's database and restores it from a fresh backup: pass --yes to confirm",
  drillUnhealthy: (what: string, detail: string) =>
    `steady state not met, no fault injected: ${what} is unhealthy (${detail}); repair it first (imctl local up)`,
  drillKubernetes: TARGET_MESSAGES.drillKubernetes,
} as const;
