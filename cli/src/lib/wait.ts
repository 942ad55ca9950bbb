import { sleep } from "../../../base/sleep.ts";

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs` naming `what`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; lastError?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 250;
  let last: string | undefined;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) {
      const why = opts.lastError?.() ?? last;
      throw new Error(
        `timed out after ${(opts.timeoutMs / 1000).toFixed(0)} s waiting for ${what}${why ? ` (last: ${why})` : ""}`,
      );
    }
    await sleep(interval);
  }
}
