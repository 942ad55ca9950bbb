/**
 * The gateway's egress bandwidth cap: a token bucket over bytes sent to clients. Frames beyond the budget wait
 * in a FIFO (order per connection is kept) and go out as tokens refill; the cap can be raised at run time, which
 * is the knob the bandwidth-upgrade workflow turns.
 */
export class EgressLimiter {
  private tokens: number;
  private last = performance.now();
  private readonly queue: Array<{ bytes: number; send: () => void }> = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Frames that had to wait for budget. */
  delayedFrames = 0;

  constructor(private bytesPerSecond: number) {
    this.tokens = bytesPerSecond;
  }

  get cap(): number {
    return this.bytesPerSecond;
  }

  get queued(): number {
    return this.queuedBytes;
  }

  setCap(bytesPerSecond: number): void {
    this.bytesPerSecond = bytesPerSecond;
    this.drain();
  }

  private refill(): void {
    const now = performance.now();
    // Burst of at most one second's worth.
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
  }

  /** Sends now if the budget allows and nothing is waiting, else queues. */
  submit(bytes: number, send: () => void): void {
    this.refill();
    if (this.queue.length === 0 && this.tokens >= bytes) {
      this.tokens -= bytes;
      send();
      return;
    }
    this.queue.push({ bytes, send });
    this.queuedBytes += bytes;
    this.delayedFrames++;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.drain();
    }, 5);
  }

  private drain(): void {
    this.refill();
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (head === undefined) break;
      // A frame larger than the whole budget still goes out once the bucket is full, or it would wait forever.
      if (this.tokens < Math.min(head.bytes, this.bytesPerSecond)) break;
      this.queue.shift();
      this.tokens -= head.bytes;
      this.queuedBytes -= head.bytes;
      head.send();
    }
    if (this.queue.length > 0) this.schedule();
  }
}
