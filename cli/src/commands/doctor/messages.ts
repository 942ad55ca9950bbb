/**
 * The messages of imctl doctor (the daily health check), asserted verbatim by tests. MESSAGES also carries the
 * shared ones of errors.ts, so a file of this command needs one import whichever it raises.
 */
import { MESSAGES as SHARED } from "../../errors.ts";

export const MESSAGES = {
  ...SHARED,
  /** The info row of a target without a Prometheus (a kubernetes stack without kubernetes.prometheus). */
  noPrometheus: "no Prometheus named (kubernetes.prometheus in the stack): alert and backlog checks skipped",
  prometheusDown: (why: string, skipped: string) => `Prometheus did not answer (${why}); ${skipped} checks skipped`,
  /** A kubernetes Prometheus that has no consumer-lag series: it does not scrape the message instances. */
  backlogUnscraped:
    "no message instance reports its consumer lag (im_message_consumer_lag): does this Prometheus scrape the " +
    "platform's services? (the program creates scrape objects only with prometheus-operator preinstalled)",
} as const;
