/**
 * Admission control: at most `limit` units of work in progress; beyond it a caller is refused at once with a
 * retryable `overloaded` error that says when to come back, instead of joining a queue that grows with the offered
 * load (memory, then latency, then every caller's timeout: the congestion collapse seen in the latency benchmark).
 * Readiness reports "overloaded" while refusals are recent, and recovers by itself once the load goes.
 */
import { ApiError } from "./errors.ts";

/** How long after the last refusal readiness still says overloaded, ms. */
export const OVERLOAD_HOLD_MS = 1000;

export class Admission {
  private inUse = 0;
  private lastRefusal = 0;
  refused = 0;

  /**
   * @param what what is being admitted, for the refusal message ("sends in progress")
   * @param limit most units in progress at once
   * @param retryAfterMs what a refusal tells the caller to wait before retrying (clients add jitter)
   */
  constructor(
    private readonly what: string,
    readonly limit: number,
    readonly retryAfterMs: number,
  ) {}

  get inProgress(): number {
    return this.inUse;
  }

  /** Runs `fn` holding a slot, or throws `overloaded` when none is free. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    this.enter();
    try {
      return await fn();
    } finally {
      this.inUse--;
    }
  }

  /** Takes a slot (give it back with leave()), or throws `overloaded`. */
  enter(): void {
    if (this.inUse >= this.limit) throw this.refusal();
    this.inUse++;
  }

  leave(): void {
    this.inUse--;
  }

  /** The refusal, counted (readiness looks at the last one). */
  refusal(): ApiError {
    this.refused++;
    this.lastRefusal = Date.now();
    return new ApiError(
      "overloaded",
      `overloaded: ${this.inUse} ${this.what} (limit ${this.limit}); retry after ${this.retryAfterMs} ms`,
      this.retryAfterMs,
    );
  }

  /** "overloaded ..." while a refusal is recent, else null. */
  overloaded(now = Date.now()): string | null {
    return now - this.lastRefusal < OVERLOAD_HOLD_MS
      ? `overloaded: ${this.inUse} ${this.what} (limit ${this.limit})`
      : null;
  }
}
