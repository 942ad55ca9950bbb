/**
 * The messages of imctl doctor (the daily health check), asserted verbatim by tests. MESSAGES also carries the
 * shared ones of errors.ts, so a file of this command needs one import whichever it raises.
 */
import { MESSAGES as SHARED } from "../../errors.ts";

export const MESSAGES = {
  ...SHARED,
  doctorKubernetes: (stack: string) =>
    `--stack: got ${JSON.stringify(stack)}, a kubernetes stack; imctl doctor checks the local target only for ` +
    `now (on kubernetes, run the checks of runbooks/README.md with kubectl and Grafana)`,
} as const;
