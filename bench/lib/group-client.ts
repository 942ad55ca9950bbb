/**
 * Group load for the group-fanout benchmark, run as a child process (fork, IPC): a share of a large group's online
 * members as ImClient connections through nginx, one of them (in one process) the sender. A message's body carries
 * its send time on the sender's process clock (performance.timeOrigin + performance.now(), an epoch time: the
 * processes of one machine agree on it to well under a millisecond), and each client's 'message' event is timed on
 * this process's clock. Periodic sync is off (10 minutes): what a client is shown came through the group's fan-out
 * (its notification and the pull it triggers) or a move's backfill, not a timer.
 *
 * Commands: `connect`, `listen` (count this run's messages of a group), `send` (the sender: open loop at a rate, a
 * count or until `stop`), `collect` (wait for the acked messages to reach every receiver here, bounded), `close`.
 * Reports: `ready`, `connected`, `listening`, `sent`, `collected`, `closed`, or `failed`. Every wait is bounded.
 */
import { sleep } from "../../base/sleep.ts";
import { ClientError, ImClient } from "../../services/lib/client/index.ts";
import type { WireMessage } from "../../services/lib/protocol.ts";
import type {
  GroupCollectCommand,
  GroupCommand,
  GroupConnectCommand,
  GroupListenCommand,
  GroupReport,
  GroupSend,
  GroupSendCommand,
} from "./group-ipc.ts";
import { openFileLimit } from "../../services/lib/open-files.ts";
import { toParent } from "./ipc-child.ts";

const now = () => performance.timeOrigin + performance.now();
const SYNC_OFF_MS = 600_000;

interface Member {
  userId: string;
  client: ImClient;
  anomalies: number;
}

let members: Member[] = [];
/** The run being counted, its receipts, and everything the clients showed that belongs to none. */
let listening: Listening | null = null;
let stale = 0;
let stopSending = false;

class Listening {
  /** Per message n: receivers shown it and the latency of the slowest. */
  readonly receipts = new Map<number, { count: number; last: number }>();
  readonly latencies: number[] = [];
  private readonly seen = new Set<string>();
  private readonly lastGroupSeq = new Map<number, number>();
  duplicatesShown = 0;
  outOfOrder = 0;
  readonly dropped0 = members.reduce((s, m) => s + m.client.stats.duplicatesDropped, 0);

  constructor(readonly c: GroupListenCommand) {}

  receive(i: number, m: WireMessage): void {
    const at = now();
    const [run, n, sentAt] = m.body.split("|");
    if (m.to.kind !== "group" || m.to.id !== this.c.group || run !== this.c.run) return void stale++;
    if (members[i]?.userId === this.c.senderUserId) return;
    const k = `${i}|${n}`;
    if (this.seen.has(k)) return void this.duplicatesShown++;
    this.seen.add(k);
    const seq = m.groupSeq ?? 0;
    if (seq < (this.lastGroupSeq.get(i) ?? 0)) this.outOfOrder++;
    this.lastGroupSeq.set(i, Math.max(seq, this.lastGroupSeq.get(i) ?? 0));
    const latency = at - Number(sentAt);
    const r = this.receipts.get(Number(n)) ?? { count: 0, last: 0 };
    r.count++;
    r.last = Math.max(r.last, latency);
    this.receipts.set(Number(n), r);
    if (Number(n) >= this.c.firstMeasured) this.latencies.push(Math.round(latency * 100) / 100);
  }

  get receivers(): number {
    return members.filter((m) => m.userId !== this.c.senderUserId).length;
  }
}

function report(r: GroupReport): void {
  toParent(r);
}

const errorKey = (err: unknown) =>
  err instanceof ClientError ? err.code : err instanceof Error ? err.message.slice(0, 80) : String(err);

async function connect(c: GroupConnectCommand): Promise<void> {
  members = c.users.map((u, i) => {
    const localAddress = c.sources[Math.floor(i / c.perSource) % c.sources.length] ?? "127.0.0.1";
    const client = new ImClient({
      url: c.url,
      token: u.token,
      localAddress,
      syncIntervalMs: SYNC_OFF_MS,
      maxUnackedSends: 64,
    });
    const m: Member = { userId: u.userId, client, anomalies: 0 };
    client.on("anomaly", () => m.anomalies++);
    client.on("message", (msg) => (listening ? listening.receive(i, msg) : stale++));
    return m;
  });
  let next = 0;
  let connected = 0;
  const errors = new Map<string, number>();
  const worker = async () => {
    for (let m = members[next++]; m; m = members[next++]) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          m.client.connect(),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("no hello in time")), c.timeoutMs))),
        ]);
        connected++;
      } catch (err) {
        errors.set(errorKey(err), (errors.get(errorKey(err)) ?? 0) + 1);
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(c.concurrency, members.length)) }, worker));
  // The first sync of each client (its groups' heads) settles before any load starts.
  await Promise.race([Promise.all(members.map((m) => m.client.settled())), sleep(60_000)]);
  report({
    t: "connected",
    connected,
    failed: members.length - connected,
    errors: [...errors].map(([k, v]) => `${k} x${v}`),
  });
}

async function send(c: GroupSendCommand): Promise<void> {
  const sender = members[c.sender];
  if (!sender) throw new Error(`no client ${c.sender} in this process`);
  stopSending = false;
  const sends: GroupSend[] = [];
  const pending: Array<Promise<void>> = [];
  for (let n = 0; c.count === null ? !stopSending : n < c.count; n++) {
    await sleep(Math.max(0, c.startAt + (n * 1000) / c.rate - now()));
    const s: GroupSend = { n, sentAt: now(), acked: false, error: null };
    sends.push(s);
    pending.push(
      sender.client
        .send({ kind: "group", id: c.group }, `${c.run}|${n}|${s.sentAt.toFixed(3)}`, { timeoutMs: c.sendTimeoutMs })
        .then(
          () => void (s.acked = true),
          (err: unknown) => void (s.error = errorKey(err)),
        ),
    );
  }
  await Promise.all(pending);
  report({ t: "sent", sends });
}

async function collect(c: GroupCollectCommand): Promise<void> {
  const l = listening;
  if (!l) throw new Error("collect without listen");
  const want = l.receivers;
  const deadline = now() + c.graceMs;
  const done = () => c.acked.every((n) => (l.receipts.get(n)?.count ?? 0) >= want);
  while (!done() && now() < deadline) await sleep(100);
  listening = null;
  report({
    t: "collected",
    receivers: want,
    receipts: [...l.receipts].map(([n, r]) => [n, r.count, Math.round(r.last * 100) / 100]),
    latencies: l.latencies,
    duplicatesShown: l.duplicatesShown,
    duplicatesDropped: members.reduce((s, m) => s + m.client.stats.duplicatesDropped, 0) - l.dropped0,
    outOfOrder: l.outOfOrder,
    reconnects: members.reduce((s, m) => s + Math.max(0, m.client.stats.connects - 1), 0),
    anomalies: members.reduce((s, m) => s + m.anomalies, 0),
    stale,
  });
}

async function closeAll(): Promise<void> {
  listening = null;
  await Promise.all(
    members.map(
      (m) =>
        new Promise<void>((resolve) => {
          if (!m.client.isOpen) {
            m.client.close();
            return resolve();
          }
          const timer = setTimeout(resolve, 5000);
          m.client.once("close", () => {
            clearTimeout(timer);
            resolve();
          });
          m.client.close();
        }),
    ),
  );
  const open = members.filter((m) => m.client.isOpen).length;
  members = [];
  report({ t: "closed", open });
}

function handle(m: GroupCommand): Promise<void> {
  switch (m.t) {
    case "connect":
      return connect(m);
    case "listen":
      listening = new Listening(m);
      report({ t: "listening" });
      return Promise.resolve();
    case "send":
      return send(m);
    case "stop":
      stopSending = true;
      return Promise.resolve();
    case "collect":
      return collect(m);
    case "close":
      return closeAll();
  }
}

process.on("message", (m: GroupCommand) => {
  handle(m).catch((err: unknown) =>
    report({ t: "failed", error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});

process.on("disconnect", () => {
  for (const m of members) m.client.close();
  setTimeout(() => process.exit(0), 200).unref();
});

report({ t: "ready", fdLimit: openFileLimit() });
