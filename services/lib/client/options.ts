/** What an ImClient is given, and what it counts. */

export interface ClientOptions {
  /** ws://host:port/ws (the nginx tier or one gateway). */
  url: string;
  token: string;
  /** Backoff bounds for reconnects, ms. Default 100 and 3000. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * After an open connection is lost, the first reconnect waits a time drawn uniformly from 0 to this, ms, so the
   * clients of a gateway that died come back over this window instead of in one burst at the survivors (and the
   * load balancer's passive checks). Default 1,000.
   */
  reconnectSpreadMs?: number;
  /**
   * Most sends waiting for their acknowledgement at once; further sends wait their turn in the client. A client
   * that resends all it holds on every reconnect multiplies a fault's load (the retry storm that wedged the message
   * tier); with a cap, the storm is bounded by the number of clients. Default 32.
   */
  maxUnackedSends?: number;
  /** How long one request waits for its answer, ms. Default 10,000. */
  requestTimeoutMs?: number;
  /** Local address to connect from (127.0.0.x), to spread many connections over source addresses. */
  localAddress?: string;
  /**
   * Sync this often even without a notification, ms (0: never). A notification is a hint, not the delivery:
   * one lost with a dying gateway is covered by this and by the resync after every reconnect. Default 30,000.
   * Each wait is drawn from 75-125 % of it, so clients that connected together (after a gateway drained) do
   * not all sync in the same instant, interval after interval.
   */
  syncIntervalMs?: number;
}

export interface ClientStats {
  connects: number;
  /** Inbox seqs in the order they were delivered; each must be above the previous one. */
  inboxSeqRegressions: number;
  duplicatesDropped: number;
}
