/**
 * What both drills do around their fault: open the target's drill capability, recover what a killed imctl left
 * behind, check the steady state before anything is touched, and wait for the platform to be healthy again.
 */
import { UserError } from "../../errors.ts";
import { MESSAGES } from "./messages.ts";
import { sleep } from "../../../../base/sleep.ts";
import { openTarget, type OpenedTarget } from "../../targets/open.ts";
import type { DrillTarget } from "../../targets/target.ts";
import { resolveStack } from "../stack.ts";
import { interruptedDrills } from "./state.ts";

/** After a restore, how long the platform may take to be healthy again before the drill says it is not. */
export const HEALTH_AFTER_RESTORE_MS = 120_000;

/**
 * --target and --stack, before the drill capability is opened (its kind decides which faults and budgets apply).
 * Without --target the stack file's own `target` decides, so `--stack embedded-cluster` is a kubernetes drill.
 */
export function openDrill(opts: { target?: string; stack?: string }): OpenedTarget {
  return openTarget({ stack: resolveStack(opts.stack), target: opts.target });
}

/** The steady-state check: every component healthy and every platform check passing, or one line naming the first that is not. */
export async function steadyState(target: DrillTarget): Promise<void> {
  const h = await target.health();
  const c = h.components.find((x) => !x.healthy);
  if (c) throw new UserError(MESSAGES.drillUnhealthy(c.id, c.detail, target.kind));
  const k = h.checks.find((x) => !x.ok);
  if (k) throw new UserError(MESSAGES.drillUnhealthy(k.name, k.detail, target.kind));
}

export async function waitHealthy(
  target: DrillTarget,
  timeoutMs: number,
): Promise<{ healthy: boolean; detail: string }> {
  const deadline = Date.now() + timeoutMs;
  let detail = "";
  for (;;) {
    const h = await target.health();
    if (h.healthy) return { healthy: true, detail: "every component healthy, every replica in sync" };
    detail = [
      ...h.components.filter((c) => !c.healthy).map((c) => `${c.id}: ${c.detail}`),
      ...h.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`),
    ].join("; ");
    if (Date.now() > deadline) return { healthy: false, detail };
    await sleep(1000);
  }
}

/** Restores what an imctl killed mid-drill left behind: heals its partition and brings the platform back. */
export async function restoreInterrupted(target: DrillTarget, say: (l: string) => void): Promise<string[]> {
  const found = interruptedDrills(target.stateDir);
  if (found.length === 0) return [];
  for (const d of found) {
    say(`drill ${d.record.id} was interrupted in ${d.record.phase} (imctl killed): restoring`);
    if (d.record.partition) await target.healPartition(d.record.id);
    d.record.partition = false;
    d.transition("Aborted", "interrupted (its imctl is gone); restored by the next drill command");
  }
  await target.repair(say);
  // A restore drill keeps the services' writes refused while it destroys and restores the database.
  if (found.some((d) => d.record.kind === "restore")) await target.allowWrites();
  return found.map((d) => d.record.id);
}

/** "[ 12.3s] line": progress lines carry the seconds since the drill started. */
export function timedLog(say: (l: string) => void, t0: number): (l: string) => void {
  return (l) => say(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${l}`);
}
