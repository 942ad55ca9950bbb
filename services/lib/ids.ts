/**
 * Unique 63-bit ids without a central allocator (TiDB's AUTO_INCREMENT is not monotonic across servers):
 * 41 bits of milliseconds since 2026-01-01, 10 bits of node id, 12 bits of sequence within the millisecond.
 * Returned as decimal strings: JSON numbers lose precision beyond 2^53.
 */
const EPOCH = 1767225600000n; // 2026-01-01T00:00:00Z

export class IdGenerator {
  private lastMs = 0n;
  private seq = 0n;
  constructor(private readonly nodeId: number) {
    if (!Number.isInteger(nodeId) || nodeId < 0 || nodeId > 1023)
      throw new Error(`NODE_ID: got ${nodeId}; allowed: 0 to 1023`);
  }

  next(): string {
    let ms = BigInt(Date.now()) - EPOCH;
    if (ms < this.lastMs) ms = this.lastMs; // clock stepped back: keep ids increasing
    if (ms === this.lastMs) {
      this.seq = (this.seq + 1n) & 4095n;
      if (this.seq === 0n) ms = this.lastMs + 1n; // 4096 ids in one ms: borrow the next ms
    } else {
      this.seq = 0n;
    }
    this.lastMs = ms;
    return ((ms << 22n) | (BigInt(this.nodeId) << 12n) | this.seq).toString();
  }
}
