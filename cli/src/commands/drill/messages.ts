/**
 * The messages of imctl drill (failover and restore drills), asserted verbatim by tests. MESSAGES also carries the
 * shared ones of errors.ts, so a file of this command needs one import whichever it raises.
 */
import { MESSAGES as SHARED } from "../../errors.ts";
import { TARGET_FAULTS } from "../../targets/faults.ts";
import { TARGET_MESSAGES } from "../../targets/messages.ts";

export const MESSAGES = {
  ...SHARED,
  confirmDrill: (fault: string) => `drill run ${fault} injects a real fault into the platform: pass --yes to confirm`,
  confirmRestoreDrill:
    "drill restore destroys the platform's database and restores it from a fresh backup: pass --yes to confirm",
  drillUnhealthy: (what: string, detail: string, target: "local" | "kubernetes" = "local") =>
    `steady state not met, no fault injected: ${what} is unhealthy (${detail}); repair it first ` +
    (target === "kubernetes"
      ? "(kubectl get nodes; kubectl get deploy,sts -n <namespace>; imctl up)"
      : "(imctl local up)"),
  /** What `drill run db --target kubernetes` says: the data tier's faults are the local target's. */
  drillKubernetes: TARGET_MESSAGES.faultNotOnTarget("db", "kubernetes", TARGET_FAULTS.kubernetes),
  drillRestoreKubernetes: TARGET_MESSAGES.drillRestoreKubernetes,
  restoreFailed: (why: string, target: "local" | "kubernetes") =>
    `${why}; the platform may be degraded: ` +
    (target === "kubernetes"
      ? "kubectl get nodes shows a node still cordoned (kubectl uncordon it) and kubectl get deploy,sts what is not Ready"
      : "`imctl local status` shows what is down and `imctl local up` restarts it"),
  /** Why a drill stopped on its --guard: a sample above 0. */
  guardAbove: (promql: string) => `guard: ${promql} is above 0`,
  /** Why a drill stopped (or never started) on its --guard: the query errors; the guard fails safe. */
  guardUnreadable: (promql: string, why: string) =>
    `guard: ${promql} cannot be evaluated (${why}); a guard that cannot be read stops the drill`,
  zoneSpread: (zone: string, service: string, minReady: number, desired: number) =>
    `zone-loss of ${zone}: ${service} kept ${minReady}/${desired} Ready replicas, under 2/3`,
} as const;
