/**
 * The IPC between a message benchmark (msg-bench.ts, the parent) and its load processes (msg-client.ts, the
 * children): the commands the parent sends and the reports it gets back.
 */
export type TargetKind = "platform" | "relay";

export interface ConnectCommand {
  t: "connect";
  kind: TargetKind;
  /** ws://host:port/ws */
  url: string;
  users: Array<{ userId: string; token: string }>;
  /** Client i connects from sources[floor(i / perSource) % sources.length]. */
  sources: string[];
  perSource: number;
  concurrency: number;
  /** Per-connection deadline for the handshake and the hello. */
  timeoutMs: number;
}

export interface LatencyCommand {
  t: "latency";
  /** Tags bodies: messages of earlier sessions (pulled again by a fresh client) are told apart and ignored. */
  run: string;
  /** [sender, receiver] by index into this process's users; one entry per sender. */
  pairs: Array<[number, number]>;
  /** Per pair: ms into each second at which its sender sends. */
  phases: number[];
  /** Epoch ms when the first second starts (the same for every process). */
  startAt: number;
  warmupSeconds: number;
  seconds: number;
  /** A message acknowledged but not received this long after the last send is lost. */
  graceMs: number;
  sendTimeoutMs: number;
}

export interface ThroughputCommand {
  t: "throughput";
  run: string;
  /** [sender, receiver] per slot (one send in flight per slot), by index into this process's users. */
  slots: Array<[number, number]>;
  startAt: number;
  warmupMs: number;
  windowMs: number;
  graceMs: number;
  sendTimeoutMs: number;
  /** Receivers whose stored inbox is also pulled in full from seq 0 and checked (platform only). */
  inboxSample: number;
}

/**
 * Open-loop offered load (the overload benchmark): probe senders send `probeRate` a second from `startAt` to the
 * end; load senders send `rate` a second between `loadStart` and `loadEnd`, each holding at most `maxUnacked` sends
 * at the platform (the client library's default cap), the rest waiting in the client in order.
 */
export interface OverloadCommand {
  t: "overload";
  run: string;
  /** [sender, receiver] by index into this process's users: load pairs (a sender may have several). */
  loadPairs: Array<[number, number]>;
  /** [sender, receiver]: the probe's pairs, senders apart from the load's. */
  probePairs: Array<[number, number]>;
  startAt: number;
  loadStart: number;
  loadEnd: number;
  /** The probe runs until here. */
  endAt: number;
  /** Sends a second of this process's load senders, all together. */
  rate: number;
  probeRate: number;
  maxUnacked: number;
  graceMs: number;
  sendTimeoutMs: number;
}

export interface OverloadOutcome extends Outcome {
  /** Acks that arrived between loadStart and loadEnd (load and probe sends). */
  windowAcks: number;
  /** Sends the load scheduled (offered) and the part handed to the platform. */
  offered: number;
  submitted: number;
  /** Sends still waiting in the client for a free slot when the load ended: dropped, never sent. */
  withheld: number;
  /** Sends retried by the clients, by the error code (overloaded, timeout, disconnected, ...). */
  retries: Record<string, number>;
  /** Sends that failed for good, by error code. */
  failures: Record<string, number>;
  /** Probe sends: [ms of the send after startAt, send-to-ack ms] of every acknowledged one. */
  probe: Array<[number, number]>;
}

export type LoadCommand = ConnectCommand | LatencyCommand | ThroughputCommand | OverloadCommand | { t: "close" };

export interface Outcome {
  /** Sends started (warm-up included). */
  sent: number;
  acked: number;
  /** Sends that were rejected or timed out (after the client's own retries). */
  failed: number;
  /** Sends neither acknowledged nor failed once everything else was done. */
  unsettled: number;
  /**
   * Acknowledged, not received within graceMs after the last send, and missing from the receiver's stored inbox
   * (platform) or not received at all (relay, which stores nothing).
   */
  lost: number;
  /** Acknowledged, not received within graceMs, but found in the receiver's stored inbox: the push lagged. */
  late: number;
  /** Received, acknowledged or not. */
  received: number;
  duplicates: number;
  /** Received by a client other than the one it was sent to. */
  misdelivered: number;
  /** Messages of earlier sessions delivered again to these fresh clients (ignored). */
  stale: number;
  /** Reconnects of clients after their first connect (ImClient reconnects by itself). */
  reconnects: number;
  anomalies: number;
  /** "reason xN", the most frequent first. */
  errors: string[];
  /** Up to 5 lost messages: "sender->receiver #n (acked as messageId)". */
  lostSamples: string[];
}

export interface LatencyOutcome extends Outcome {
  /** Delivery latency of every received message sent in the measured seconds, ms. */
  latencies: number[];
  /** For each of `latencies`, the measured second its message was sent in (0 = the first). */
  latencySeconds: number[];
  /** Send-to-ack time of the measured seconds' messages, ms. */
  ackLatencies: number[];
  /** Sends in the measured seconds. */
  windowSent: number;
  /** How late the sends were against their schedule (client event-loop lag), ms: the largest. */
  maxScheduleLagMs: number;
}

export interface ThroughputOutcome extends Outcome {
  /** Acks that arrived inside the window. */
  windowAcks: number;
  /** Send-to-ack time of those, ms. */
  ackLatencies: number[];
  /** Delivery latency of messages sent inside the window and received, ms. */
  latencies: number[];
  inboxChecked: number;
  inboxMessages: number;
  /** Acknowledged messages of this session missing from the receiver's stored inbox. */
  inboxMissing: number;
  /** Inbox seqs not 1, 2, 3, ... in order. */
  inboxSeqGaps: number;
}

export interface Progress {
  sent: number;
  acked: number;
  failed: number;
  received: number;
}

export type LoadReport =
  | { t: "ready"; fdLimit: number | null }
  | { t: "connected"; connected: number; failed: number; errors: string[]; stale: number; ms: number }
  | ({ t: "progress" } & Progress)
  | ({ t: "latency-done" } & LatencyOutcome)
  | ({ t: "throughput-done" } & ThroughputOutcome)
  | ({ t: "overload-done" } & OverloadOutcome)
  | { t: "closed"; open: number }
  | { t: "failed"; error: string };
