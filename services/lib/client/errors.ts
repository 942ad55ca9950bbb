/** The IM client's errors, and which of them it tries again after, and when. */

/** A failed request of the IM client: the protocol's error code, and the wait the platform asked for. */
export class ClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** From an `err` frame: how long the platform asked to wait before retrying, ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "ClientError";
  }
}

/** Error codes after which a pull is tried again by itself (disconnected: the resync after the reconnect does it). */
export const RETRIABLE_PULL = new Set(["timeout", "unavailable", "overloaded", "internal"]);

/** Error codes after which a send is retried with the same client message id. */
export const RETRIABLE_SEND = new Set(["disconnected", "timeout", "unavailable", "overloaded", "internal"]);

/**
 * How long to wait before retry `attempt` of a send: what the platform asked for (retryAfterMs) times a factor
 * drawn from 1 to 2, else a full-jitter exponential backoff from 100 ms up to 5 s. Never a fixed pause: clients
 * refused together must not come back together.
 */
export function retryDelayMs(attempt: number, err: unknown, random: () => number = Math.random): number {
  const asked = err instanceof ClientError ? err.retryAfterMs : undefined;
  if (asked !== undefined && asked > 0) return asked * (1 + random());
  const cap = Math.min(5000, 100 * 2 ** Math.min(attempt, 10));
  return 50 + random() * cap;
}
