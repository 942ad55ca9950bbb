/**
 * `imctl drill restore`: back the database up, destroy it, restore it, verify row counts and checksums, and
 * report the RTO against its budget.
 */
import { UserError } from "../../errors.ts";
import { MESSAGES } from "./messages.ts";
import type { TableCheck } from "../../targets/faults.ts";
import type { DatabaseRestoreResult } from "../../targets/faults.ts";
import { parseDuration } from "./model.ts";
import { DrillStore, newDrillId } from "./state.ts";
import {
  HEALTH_AFTER_RESTORE_MS,
  openDrill,
  restoreInterrupted,
  steadyState,
  timedLog,
  waitHealthy,
} from "./steady-state.ts";

export interface RestoreOptions {
  target?: string;
  stack?: string;
  yes?: boolean;
  budget?: string;
  progress?: (line: string) => void;
}

export interface RestoreReport {
  id: string;
  passed: boolean;
  reasons: string[];
  database: string;
  rtoSeconds: number;
  rtoBudgetSeconds: number;
  backupSeconds: number;
  restoreSeconds: number;
  backupBytes: number;
  backupFile: string;
  tables: TableCheck[];
  files: { dir: string; report: string };
}

/** Seed: restore with an RTO under 15 minutes. */
export const RESTORE_RTO_BUDGET_SECONDS = 900;

/** Why a restore failed, one line each: tables that differ from the backup, an RTO over budget. */
function restoreReasons(r: DatabaseRestoreResult, budget: number): string[] {
  const differ = (t: TableCheck) =>
    `${t.table}: ${t.rowsAfter} rows (checksum ${t.checksumAfter}) after, ` +
    `${t.rowsBefore} (${t.checksumBefore}) in the backup`;
  return [
    ...r.tables.filter((t) => !t.ok).map(differ),
    ...(r.rtoSeconds > budget ? [`RTO ${r.rtoSeconds.toFixed(1)} s is over the ${budget} s budget`] : []),
  ];
}

export async function restore(opts: RestoreOptions): Promise<RestoreReport> {
  const say = opts.progress ?? (() => undefined);
  const budget = opts.budget === undefined ? RESTORE_RTO_BUDGET_SECONDS : parseDuration("--budget", opts.budget);
  const opened = openDrill(opts);
  // Refused before the target is opened: on kubernetes the database is outside the cluster.
  if (opened.kind === "kubernetes") throw new UserError(MESSAGES.drillRestoreKubernetes);
  const target = await opened.drill();
  if (opts.yes !== true) throw new UserError(MESSAGES.confirmRestoreDrill);
  const log = timedLog(say, Date.now());
  return target.withLock("imctl drill restore", async () => {
    await restoreInterrupted(target, log);
    await steadyState(target);
    const store = DrillStore.create(target.stateDir, {
      id: newDrillId("restore"),
      kind: "restore",
      fault: "database-restore",
    });
    store.record.component = "database";
    store.transition("SteadyState", "every component healthy, every replica in sync");
    store.transition("Injecting", "backup, then DROP DATABASE, then restore from the backup");
    const r = await target.databaseRestoreDrill(log);
    store.transition("Verifying", `restored; ${r.tables.length} tables checked`);
    const reasons = restoreReasons(r, budget);
    const healthAfter = await waitHealthy(target, HEALTH_AFTER_RESTORE_MS);
    if (!healthAfter.healthy) reasons.push(`the platform is not healthy after the restore: ${healthAfter.detail}`);
    const report: RestoreReport = {
      id: store.record.id,
      passed: reasons.length === 0,
      reasons,
      database: r.database,
      rtoSeconds: r.rtoSeconds,
      rtoBudgetSeconds: budget,
      backupSeconds: r.backupSeconds,
      restoreSeconds: r.restoreSeconds,
      backupBytes: r.backupBytes,
      backupFile: r.backupFile,
      tables: r.tables,
      files: { dir: store.dir, report: `${store.dir}/report.json` },
    };
    store.writeFile("report.json", `${JSON.stringify(report, null, 2)}\n`);
    store.transition(
      report.passed ? "Passed" : "Failed",
      report.passed ? `RTO ${r.rtoSeconds.toFixed(1)} s, every table verified` : reasons.join("; "),
    );
    return report;
  });
}
