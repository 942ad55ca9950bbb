/**
 * imctl drill: failover drills that report recovery time and message loss.
 *
 * `run <fault>` (run.ts) is a persisted state machine: Pending → SteadyState → Injecting → Observing → Restoring →
 * Verifying → Passed | Failed | Aborted, one function per phase. `restore` (restore.ts) backs the database up,
 * destroys it, restores it, verifies row counts and checksums and reports the RTO. render.ts turns both reports
 * into text; steady-state.ts holds what both do around their fault.
 */
export { renderRestore, renderRun } from "./render.ts";
export { restore, RESTORE_RTO_BUDGET_SECONDS, type RestoreOptions, type RestoreReport } from "./restore.ts";
export { run, type DrillReport, type RunOptions } from "./run.ts";
