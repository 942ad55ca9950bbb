/**
 * 1:1 sends, stored in batches: every send that arrives while a batch is being stored joins the next one, and a
 * batch is one transaction of a few multi-row statements (messages, the receivers' seq rows, inbox rows) plus one
 * Kafka produce for all its events. Under load this turns thousands of small transactions, each with its own
 * round trips and commit, into a few large ones; with one send in flight it costs what a single send did.
 * Batches start at most once per `intervalMs` (a Pacer): the sends of one turn of the event loop always travel
 * together, and under load the transaction rate is set by the clock, not by how quickly the last one committed.
 *
 * Order and seq: the receivers' seq rows are locked in user_id order by one statement (no deadlock between
 * batches), each receiver's block of seqs is taken in the batch's arrival order, and the rows are committed
 * together, so a receiver's seqs still grow in commit order and never go backwards.
 */
import type mysql from "mysql2/promise";
import { ApiError } from "../../lib/errors.ts";
import { Pacer } from "../../lib/pacer.ts";
import type { SendResult, StoredEvent } from "../../lib/protocol.ts";
import type { StoreDeps } from "./store.ts";

export interface UserSend {
  from: string;
  cmid: string;
  to: string;
  body: string;
}

interface Pending extends UserSend {
  /** When it was queued (performance.now()). */
  at: number;
  resolve: (r: SendResult) => void;
  reject: (e: Error) => void;
}

/** The default maximum number of sends in one batch (TiDB keeps transactions small: this stays far below its limit). */
export const MAX_SEND_BATCH = 256;
/** The default number of batches stored at once by one instance. */
export const SEND_BATCHES_IN_FLIGHT = 4;
/**
 * The default least time between the starts of two batches of one instance (SEND_BATCH_INTERVAL_MS). Each batch is
 * one Kafka produce, and each produce costs the brokers about nine socket and file operations (the append on three
 * brokers, the followers' fetches, the consumers' fetches): at 2,000 msg/s, 20 ms instead of 10 took the brokers from
 * 0.41-0.50 of a core to 0.34-0.39 and the platform's CPU per message from 0.80-0.85 ms to 0.72-0.76, and the p99
 * fell with the CPU (docs/benchmarks.md, issue 23); 40 ms saved a little more CPU but lengthened the tail. A lone send
 * still leaves at once.
 */
export const SEND_BATCH_INTERVAL_MS = 20;
/**
 * The default longest wait of a send in the batch queue, ms (SEND_QUEUE_MAX_WAIT_MS). A send that waited longer is
 * refused `overloaded` rather than stored: its client is near its own timeout and would retry anyway, so storing
 * it late only takes the place of a send that can still be answered in time (the collapse in the latency
 * benchmark: every send stored, each after its client had given up).
 */
export const SEND_QUEUE_MAX_WAIT_MS = 2000;
/** The default number of sends in progress on one instance before it refuses more (MESSAGE_MAX_SENDS_IN_PROGRESS). */
export const MAX_SENDS_IN_PROGRESS = 2048;
/** The default retry-after of an `overloaded` refusal, ms (OVERLOAD_RETRY_AFTER_MS). */
export const OVERLOAD_RETRY_AFTER_MS = 1000;

const isDup = (err: unknown) => (err as { code?: string }).code === "ER_DUP_ENTRY";

export class SendBatcher {
  private queue: Pending[] = [];
  private inFlight = 0;
  private readonly pacer: Pacer;

  /**
   * @param one stores a single send the slow way, for a batch that hit a retried send (duplicate key).
   * @param known receivers known to exist (users are never deleted).
   */
  constructor(
    private readonly d: StoreDeps,
    private readonly one: (s: UserSend) => Promise<SendResult>,
    private readonly known: { has(u: string): boolean; add(u: string): void },
    private readonly maxBatch = MAX_SEND_BATCH,
    private readonly maxInFlight = SEND_BATCHES_IN_FLIGHT,
    intervalMs = SEND_BATCH_INTERVAL_MS,
    private readonly maxWaitMs = SEND_QUEUE_MAX_WAIT_MS,
    private readonly retryAfterMs = OVERLOAD_RETRY_AFTER_MS,
  ) {
    this.pacer = new Pacer(intervalMs, () => this.pump());
  }

  submit(s: UserSend): Promise<SendResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...s, at: performance.now(), resolve, reject });
      this.pacer.request();
      this.sweepLater();
    });
  }

  /** Sends waiting for a batch now. */
  get queued(): number {
    return this.queue.length;
  }

  private sweeper: NodeJS.Timeout | null = null;

  /**
   * While sends wait, a timer refuses those past maxWaitMs even when no batch slot frees up (every slot held by a
   * database that stopped answering): their clients hear `overloaded` in time instead of timing out.
   */
  private sweepLater(): void {
    if (this.sweeper !== null) return;
    this.sweeper = setTimeout(
      () => {
        this.sweeper = null;
        this.queue = this.queue.filter((p) => !this.refuseIfStale(p, performance.now() - this.maxWaitMs));
        if (this.queue.length > 0) this.sweepLater();
      },
      Math.max(10, this.maxWaitMs / 4),
    );
    this.sweeper.unref();
  }

  /** Refuses `p` with `overloaded` when it was queued before `stale`; true when it did. */
  private refuseIfStale(p: Pending, stale: number): boolean {
    if (p.at >= stale) return false;
    this.shed++;
    p.reject(
      new ApiError(
        "overloaded",
        `overloaded: the send waited over ${this.maxWaitMs} ms to be stored; retry after ${this.retryAfterMs} ms`,
        this.retryAfterMs,
      ),
    );
    return true;
  }

  /** Starts one batch (the pacer calls it at most once per interval) if a slot is free. */
  private pump(): void {
    if (this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    const batch = this.take();
    this.inFlight++;
    // The slot is free again once the batch is committed: its Kafka append overlaps the next transaction.
    let freed = false;
    const free = () => {
      if (freed) return;
      freed = true;
      this.inFlight--;
      if (this.queue.length > 0) this.pacer.request();
    };
    void this.store(batch, free).finally(free);
    // What did not fit (a retried send's second attempt, more than maxBatch) leaves in the next interval.
    if (this.queue.length > 0) this.pacer.request();
  }

  /** Sends refused because they waited too long in the queue. */
  shed = 0;

  /**
   * The next batch: at most maxBatch sends, and one attempt per (sender, client message id). Sends that waited
   * past maxWaitMs are refused `overloaded` instead.
   */
  private take(): Pending[] {
    const batch: Pending[] = [];
    const keys = new Set<string>();
    const rest: Pending[] = [];
    const stale = performance.now() - this.maxWaitMs;
    for (const p of this.queue) {
      if (this.refuseIfStale(p, stale)) continue;
      const k = `${p.from}/${p.cmid}`;
      if (batch.length >= this.maxBatch || keys.has(k)) rest.push(p);
      else {
        keys.add(k);
        batch.push(p);
      }
    }
    this.queue = rest;
    return batch;
  }

  private async store(batch: Pending[], committed: () => void): Promise<void> {
    try {
      const accepted = await this.checkReceivers(batch);
      if (accepted.length === 0) return;
      const t0 = performance.now();
      let events: Array<Extract<StoredEvent, { kind: "user" }>>;
      try {
        events = await this.write(accepted);
      } catch (err) {
        if (!isDup(err)) throw err;
        // A retried send is in the batch: store each on its own, which finds the first attempt's row.
        await Promise.all(accepted.map((p) => this.one(p).then(p.resolve, p.reject)));
        return;
      }
      committed();
      const dbSeconds = (performance.now() - t0) / 1000;
      for (let i = 0; i < accepted.length; i++) this.d.timings?.dbSeconds.observe(dbSeconds);
      const t1 = performance.now();
      // One request for the whole batch, to one partition (see publish in store.ts for why 1:1 events may).
      await Promise.all(
        events.map((ev) =>
          this.d.publisher.publish({
            topic: this.d.topic,
            key: `u:${ev.receiver}`,
            value: JSON.stringify(ev),
            anyPartition: true,
          }),
        ),
      );
      const kafkaSeconds = (performance.now() - t1) / 1000;
      accepted.forEach((p, i) => {
        this.d.timings?.kafkaSeconds.observe(kafkaSeconds);
        const ev = events[i];
        if (ev) p.resolve({ messageId: ev.messageId, duplicate: false, groupSeq: null });
      });
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      for (const p of batch) p.reject(e);
    }
  }

  /** Rejects sends to users that do not exist; returns the rest. */
  private async checkReceivers(batch: Pending[]): Promise<Pending[]> {
    const unknown = [...new Set(batch.map((p) => p.to).filter((u) => !this.known.has(u)))];
    if (unknown.length > 0) {
      const [rows] = await this.d.db.query<mysql.RowDataPacket[]>("SELECT user_id FROM users WHERE user_id IN (?)", [
        unknown,
      ]);
      for (const r of rows) this.known.add(String(r.user_id));
    }
    return batch.filter((p) => {
      if (this.known.has(p.to)) return true;
      p.reject(new ApiError("unknown_user", `no user ${p.to}`));
      return false;
    });
  }

  /**
   * Writes a batch in one round trip: the transaction's statements go to the database as one multi-statement
   * query (the pool has multipleStatements on), so a batch costs one exchange with the database, not six.
   * Retries a deadlock or lock-wait timeout; any other failure rolls back and is thrown.
   */
  private async write(batch: Pending[]): Promise<Array<Extract<StoredEvent, { kind: "user" }>>> {
    for (let attempt = 1; ; attempt++) {
      const c = await this.d.db.getConnection();
      try {
        return await this.writeOnce(c, batch);
      } catch (err) {
        // Statements after a failed one did not run: the transaction may still be open.
        await c.query("ROLLBACK").catch(() => undefined);
        const code = (err as { code?: string }).code;
        if (attempt < 5 && (code === "ER_LOCK_DEADLOCK" || code === "ER_LOCK_WAIT_TIMEOUT")) continue;
        throw err;
      } finally {
        c.release();
      }
    }
  }

  private async writeOnce(
    c: mysql.PoolConnection,
    batch: Pending[],
  ): Promise<Array<Extract<StoredEvent, { kind: "user" }>>> {
    const now = Date.now();
    const ids = batch.map(() => this.d.ids.next());
    const createdAt = new Date(now);
    const counts = new Map<string, number>();
    for (const p of batch) counts.set(p.to, (counts.get(p.to) ?? 0) + 1);
    const receivers = [...counts.keys()].sort(byUserId);
    // Each send's place in its receiver's block of seqs, counted from the end: seq = last_seq - rev.
    const left = new Map(counts);
    const rev = batch.map((p) => {
      const n = (left.get(p.to) ?? 1) - 1;
      left.set(p.to, n);
      return n;
    });
    // The derived table is written out as numbers (every value is a checked decimal id or a small count), so
    // the join on user_seq's primary key compares BIGINT with BIGINT.
    const num = (v: string | number): string => {
      const t = String(v);
      if (!/^[0-9]{1,20}$/.test(t)) throw new Error(`not a decimal id: ${JSON.stringify(t)}`);
      return t;
    };
    const derived = batch
      .map((p, i) =>
        i === 0
          ? `SELECT ${num(p.to)} AS u, ${num(rev[i] ?? 0)} AS r, ${num(ids[i] ?? "")} AS m`
          : `SELECT ${num(p.to)}, ${num(rev[i] ?? 0)}, ${num(ids[i] ?? "")}`,
      )
      .join(" UNION ALL ");
    const sql = [
      "START TRANSACTION",
      c.format(
        "INSERT INTO messages (message_id, sender_id, client_msg_id, conversation_type, conversation_id, body, created_at) VALUES ?",
        [batch.map((p, i) => [ids[i], p.from, p.cmid, "user", p.to, p.body, createdAt])],
      ),
      // One statement takes every receiver's seq row lock, in user_id order, and reserves its block of seqs.
      c.format(
        "INSERT INTO user_seq (user_id, last_seq) VALUES ? ON DUPLICATE KEY UPDATE last_seq = last_seq + VALUES(last_seq)",
        [receivers.map((u) => [u, counts.get(u)])],
      ),
      `INSERT INTO inbox (user_id, seq, message_id) SELECT t.u, s.last_seq - t.r, t.m FROM (${derived}) t JOIN user_seq s ON s.user_id = t.u`,
      c.format("SELECT user_id, last_seq FROM user_seq WHERE user_id IN (?)", [receivers]),
      "COMMIT",
    ].join(";\n");
    const [results] = await c.query<mysql.RowDataPacket[][]>(sql);
    const inserted = (results[3] as unknown as mysql.ResultSetHeader | undefined)?.affectedRows;
    const last = new Map((results[4] ?? []).map((r) => [String(r.user_id), Number(r.last_seq)]));
    if (inserted !== batch.length || last.size !== receivers.length) {
      // Cannot happen while user_seq holds a row per receiver (the statement before makes sure); if it ever did,
      // the acknowledgement must not claim seqs that were not written.
      throw new Error(
        `batch of ${batch.length} wrote ${inserted ?? "?"} inbox rows for ${last.size} of ${receivers.length} receivers`,
      );
    }
    return batch.map((p, i) => ({
      kind: "user",
      messageId: ids[i] ?? "",
      from: p.from,
      receiver: p.to,
      seq: (last.get(p.to) ?? 0) - (rev[i] ?? 0),
      body: p.body,
      ts: now,
    }));
  }
}

/** Decimal ids of any length, in numeric order (the order InnoDB locks BIGINT keys in). */
function byUserId(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
