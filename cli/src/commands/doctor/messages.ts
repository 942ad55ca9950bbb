/**
 * The messages of imctl doctor (the daily health check), asserted verbatim by tests. MESSAGES also carries the
 * shared ones of errors.ts, so a file of this command needs one import whichever it raises.
 */
import { MESSAGES as SHARED } from "../../errors.ts";
import { TARGET_MESSAGES } from "../../targets/messages.ts";

export const MESSAGES = {
  ...SHARED,
  doctorKubernetes: TARGET_MESSAGES.doctorKubernetes,
} as const;
