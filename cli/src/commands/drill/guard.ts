/**
 * A drill's `--guard`: a PromQL stop condition, read before the fault (a guard that cannot be read refuses the drill
 * before anything changes) and every GUARD_INTERVAL_MS while the fault is in. A guard is fail-safe: a query that
 * errors (a typo Prometheus rejects, Prometheus gone) stops the drill as a sample above 0 does, since a stop
 * condition nobody can evaluate protects nothing.
 */
import type { Metrics } from "../../targets/target.ts";
import { withoutCredentials } from "../../credentials.ts";
import { MESSAGES } from "./messages.ts";

/** How often the observation reads the guard, ms. */
export const GUARD_INTERVAL_MS = 2000;

/** One reading of the guard: nothing above 0, a sample above 0, or no answer (the reason is one line). */
export type GuardReading = { state: "clear" } | { state: "tripped" | "unreadable"; reason: string };

/** Reads `promql` once through `metrics`; never throws. */
export async function readGuard(metrics: Pick<Metrics, "query">, promql: string): Promise<GuardReading> {
  try {
    const samples = await metrics.query(promql);
    return samples.some((s) => s.value > 0)
      ? { state: "tripped", reason: MESSAGES.guardAbove(promql) }
      : { state: "clear" };
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "";
    return { state: "unreadable", reason: MESSAGES.guardUnreadable(promql, withoutCredentials(why)) };
  }
}

/** The guard as the observation loop reads it: at most once per GUARD_INTERVAL_MS. */
export class GuardWatch {
  private last = -Infinity;

  constructor(
    private readonly metrics: Pick<Metrics, "query">,
    private readonly promql: string,
  ) {}

  /** The reading at `now` (ms), or null when the last one is more recent than the interval. */
  async due(now: number): Promise<GuardReading | null> {
    if (now - this.last < GUARD_INTERVAL_MS) return null;
    this.last = now;
    return readGuard(this.metrics, this.promql);
  }
}
