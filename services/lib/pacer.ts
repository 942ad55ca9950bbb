/** The time and timers a Pacer runs by; tests give it a virtual clock so that they assert pacing, not a machine's speed. */
export interface PacerClock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Runs `fn` after `ms` milliseconds; 0 or less: on the next turn of the event loop. */
  schedule(fn: () => void, ms: number): void;
}

/** The event loop's clock and timers. */
export const realClock: PacerClock = {
  now: () => performance.now(),
  schedule: (fn, ms) => {
    if (ms <= 0) setImmediate(fn);
    else setTimeout(fn, ms);
  },
};

/**
 * Paces a flush by time. A flush asked for runs on the next turn of the event loop, but never sooner than
 * `intervalMs` after the previous one started: a lone item waits for nothing, and under load everything that
 * arrives within one interval leaves together. The request rate is then bounded by time (at most 1000 /
 * intervalMs per second) rather than by how fast the previous request came back, so a faster downstream does
 * not turn into more, smaller requests that eat the CPU it freed.
 */
export class Pacer {
  private last = Number.NEGATIVE_INFINITY;
  private pending = false;

  constructor(
    private readonly intervalMs: number,
    private readonly flush: () => void = () => undefined,
    private readonly clock: PacerClock = realClock,
  ) {}

  /** Asks for one flush; asking again before it runs changes nothing. */
  request(): void {
    if (this.pending) return;
    this.pending = true;
    const wait = this.wait();
    this.clock.schedule(() => this.fire(), wait <= 0 ? 0 : Math.ceil(wait));
  }

  /** Milliseconds until the next flush may start (0 or less: now). */
  wait(): number {
    return this.last + this.intervalMs - this.clock.now();
  }

  /** Records a flush started by the caller itself (a loop that awaits wait() instead of calling request()). */
  started(): void {
    this.last = this.clock.now();
  }

  /** For a loop that paces itself: resolves once the next flush may start, and records it as started. */
  async next(): Promise<void> {
    for (let wait = this.wait(); wait > 0; wait = this.wait()) {
      await new Promise<void>((resolve) => this.clock.schedule(resolve, Math.ceil(wait)));
    }
    this.started();
  }

  private fire(): void {
    // Timers run by the event loop's millisecond clock and may come a fraction of a millisecond early.
    const wait = this.wait();
    if (wait > 0) {
      this.clock.schedule(() => this.fire(), Math.ceil(wait));
      return;
    }
    this.pending = false;
    this.started();
    this.flush();
  }
}
