/**
 * The IPC between the group-fanout benchmark (the parent) and its load processes (group-client.ts): the commands the
 * parent sends and the reports it gets back. One process holds a share of the online members; one of them, in one
 * process, is the sender.
 */
export interface GroupConnectCommand {
  t: "connect";
  /** ws://host:port/ws through nginx. */
  url: string;
  users: Array<{ userId: string; token: string }>;
  /** Client i connects from sources[floor(i / perSource) % sources.length]. */
  sources: string[];
  perSource: number;
  concurrency: number;
  /** Per-connection deadline for the handshake and the hello. */
  timeoutMs: number;
}

/** Start counting this run's messages of `group` as they are shown to this process's clients. */
export interface GroupListenCommand {
  t: "listen";
  /** Tags bodies: messages of other runs (pulled again by a client) are told apart and ignored. */
  run: string;
  group: string;
  /** The sender's user id: its own client is not a receiver. */
  senderUserId: string;
  /** Messages sent before this one (n below it) are warm-up: not in the measured latencies. */
  firstMeasured: number;
}

/** The sender (a client of this process) sends `count` messages (or until `stop`) at `rate` a second. */
export interface GroupSendCommand {
  t: "send";
  run: string;
  group: string;
  /** Index into this process's clients. */
  sender: number;
  rate: number;
  /** Epoch ms of the first send. */
  startAt: number;
  /** Messages to send; null: until a `stop` command. */
  count: number | null;
  sendTimeoutMs: number;
}

/** Waits until every one of `acked` reached every receiver of this process, or `graceMs`; then reports. */
export interface GroupCollectCommand {
  t: "collect";
  acked: number[];
  graceMs: number;
}

export type GroupCommand =
  GroupConnectCommand | GroupListenCommand | GroupSendCommand | GroupCollectCommand | { t: "stop" } | { t: "close" };

export interface GroupSend {
  n: number;
  /** Epoch ms on the sender's process clock. */
  sentAt: number;
  acked: boolean;
  /** The error code of a send that failed for good. */
  error: string | null;
}

export interface GroupCollected {
  /** This process's receivers (its clients except the sender). */
  receivers: number;
  /** Per message n: [n, receivers here that were shown it, latency of the last of them in ms]. */
  receipts: Array<[number, number, number]>;
  /** Every measured receipt's latency (send to shown), ms. */
  latencies: number[];
  /** A message shown twice to one client (the client library drops repeats by message id: expected 0). */
  duplicatesShown: number;
  /** Repeats the client library received and dropped (the dual write of a move repeats notifications). */
  duplicatesDropped: number;
  /** A receiver shown a message with a smaller groupSeq after a larger one of this run. */
  outOfOrder: number;
  reconnects: number;
  anomalies: number;
  /** Messages of other runs or groups shown meanwhile (ignored). */
  stale: number;
}

export type GroupReport =
  | { t: "ready"; fdLimit: number | null }
  | { t: "connected"; connected: number; failed: number; errors: string[] }
  | { t: "listening" }
  | { t: "sent"; sends: GroupSend[] }
  | ({ t: "collected" } & GroupCollected)
  | { t: "closed"; open: number }
  | { t: "failed"; error: string };
