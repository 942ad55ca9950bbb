/**
 * The drill's message probe: real IM clients (services/lib/client) sending sequenced messages through the
 * platform's edge while a fault is injected, plus an account-API check. It records every attempt (for detection
 * and recovery), every connection drop and re-open, what was acknowledged and what each receiver got, then
 * answers the questions no chaos tool asks: was any acknowledged message lost, delivered twice, or delivered
 * with a seq that went backwards or skipped?
 */
import { randomBytes } from "node:crypto";
import { AccountApi, ImClient } from "../../../../services/lib/client/index.ts";
import type { WireMessage } from "../../../../services/lib/protocol.ts";
import type { Edge } from "../../targets/target.ts";
import { sleep } from "../../../../base/sleep.ts";
import type { ConnectionEvent, MessageFigures, ProbeSample } from "./model.ts";

export interface ProbeOptions {
  edge: Edge;
  /** Senders; each has its own receiver. */
  clients: number;
  intervalMs: number;
  timeoutMs: number;
  /** The drill's time origin (Date.now() at its start); every sample is relative to it. */
  t0: number;
}

interface Pair {
  stream: string;
  sender: ImClient;
  receiver: ImClient;
  receiverId: string;
  /** Message ids acknowledged to the sender. */
  acked: Set<string>;
  received: WireMessage[];
  sent: number;
}

/** Longest a single send keeps retrying (same client message id) before the probe counts it unacknowledged. */
const SEND_GIVE_UP_MS = 60_000;
/** Bound on sends in flight per sender: a long outage must not pile up an unbounded backlog. */
const MAX_IN_FLIGHT = 100;

export class MessageProbe {
  readonly samples: ProbeSample[] = [];
  readonly events: ConnectionEvent[] = [];
  private running = false;
  private closing = false;
  private loops: Array<Promise<void>> = [];
  private readonly inFlight = new Set<Promise<unknown>>();

  private constructor(
    private readonly o: ProbeOptions,
    private readonly pairs: Pair[],
    private readonly account: { token: string; groupId: string } | null,
  ) {}

  /**
   * A probe with no clients, for a platform whose edge the drill cannot reach (pods on simulated nodes): it records
   * nothing, so recovery rests on what the target itself watched (workload counts) and the message figures are 0.
   */
  static idle(t0: number): MessageProbe {
    return new MessageProbe({ edge: { http: "", ws: "" }, clients: 0, intervalMs: 0, timeoutMs: 0, t0 }, [], null);
  }

  private now(): number {
    return Date.now() - this.o.t0;
  }

  /** Registers the probe's users and a group for the account check, connects every client. */
  static async create(o: ProbeOptions): Promise<MessageProbe> {
    const api = new AccountApi(o.edge.http);
    const tag = `drill${randomBytes(4).toString("hex")}`;
    const password = randomBytes(12).toString("base64url");
    const user = async (name: string) => {
      await api.register(name, password);
      return api.login(name, password);
    };
    const pairs: Pair[] = [];
    const sessions = await Promise.all(Array.from({ length: o.clients * 2 }, (_, i) => user(`${tag}-${i}`)));
    const first = sessions[0];
    if (first === undefined) throw new Error("the probe needs at least one client");
    const group = await api.createGroup(first.token, `${tag}-probe`);
    const probe = new MessageProbe(o, pairs, { token: first.token, groupId: group.groupId });
    for (let i = 0; i < o.clients; i++) {
      const s = sessions[2 * i];
      const r = sessions[2 * i + 1];
      if (s === undefined || r === undefined) break;
      const stream = `sender-${i + 1}`;
      const pair: Pair = {
        stream,
        sender: probe.client(s.token, stream),
        receiver: probe.client(r.token, `receiver-${i + 1}`),
        receiverId: r.userId,
        acked: new Set(),
        received: [],
        sent: 0,
      };
      pair.receiver.on("message", (m) => pair.received.push(m));
      pairs.push(pair);
    }
    await Promise.all(pairs.flatMap((p) => [p.sender.connect(), p.receiver.connect()]));
    return probe;
  }

  private client(token: string, name: string): ImClient {
    // A short sync interval: a notification lost with a dying gateway is covered within a second.
    const c = new ImClient({
      url: this.o.edge.ws,
      token,
      syncIntervalMs: 1000,
      requestTimeoutMs: this.o.timeoutMs,
      maxBackoffMs: 1000,
    });
    // Once the probe closes its own clients, their closes are not the fault's doing.
    c.on("open", () => this.closing || this.events.push({ client: name, atMs: this.now(), kind: "open" }));
    c.on("close", () => this.closing || this.events.push({ client: name, atMs: this.now(), kind: "close" }));
    return c;
  }

  /** Starts sending: every sender every intervalMs, and the account check at the same pace. */
  start(): void {
    this.running = true;
    if (this.account === null) return;
    this.loops = [...this.pairs.map((p) => this.sendLoop(p)), this.accountLoop(this.account)];
  }

  private async sendLoop(p: Pair): Promise<void> {
    let inFlight = 0;
    while (this.running) {
      if (inFlight < MAX_IN_FLIGHT) {
        inFlight++;
        const n = ++p.sent;
        const sample: ProbeSample = { stream: p.stream, kind: "send", startMs: this.now(), endMs: null, ok: false };
        this.samples.push(sample);
        const started = Date.now();
        const task = p.sender
          .send({ kind: "user", id: p.receiverId }, `${p.stream}#${n}`, {
            cmid: `${p.stream}-${n}-${started.toString(36)}`,
            timeoutMs: SEND_GIVE_UP_MS,
          })
          .then((r) => {
            p.acked.add(r.messageId);
            sample.attempts = r.attempts;
            sample.ok = r.attempts === 1 && Date.now() - started <= this.o.timeoutMs;
          })
          .catch((err: unknown) => {
            sample.error = err instanceof Error ? err.message : String(err);
          })
          .finally(() => {
            sample.endMs = this.now();
            inFlight--;
          });
        this.track(task);
      }
      await sleep(this.o.intervalMs);
    }
  }

  private async accountLoop(account: { token: string; groupId: string }): Promise<void> {
    const url = `${this.o.edge.http}/v1/groups/${account.groupId}`;
    while (this.running) {
      const sample: ProbeSample = {
        stream: "account-api",
        kind: "account",
        startMs: this.now(),
        endMs: null,
        ok: false,
      };
      this.samples.push(sample);
      const task = fetch(url, {
        headers: { authorization: `Bearer ${account.token}` },
        signal: AbortSignal.timeout(this.o.timeoutMs),
      })
        .then(async (res) => {
          await res.arrayBuffer();
          sample.ok = res.status === 200;
        })
        .catch(() => undefined)
        .finally(() => (sample.endMs = this.now()));
      this.track(task);
      await sleep(Math.max(this.o.intervalMs, 250));
    }
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Stops sending and waits for every send in flight to be acknowledged or given up. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /**
   * Waits (up to `timeoutMs`) until every receiver holds every message acknowledged to its sender, then counts.
   * A message still missing then is lost: it was acknowledged, so the platform had promised it.
   */
  async verify(timeoutMs: number): Promise<MessageFigures & { seqGaps: number; unacknowledged: number }> {
    const missing = (p: Pair) => {
      const have = new Set(p.received.map((m) => m.messageId));
      return [...p.acked].filter((id) => !have.has(id)).length;
    };
    const deadline = Date.now() + timeoutMs;
    while (this.pairs.some((p) => missing(p) > 0) && Date.now() < deadline) await sleep(200);
    let sent = 0;
    let acknowledged = 0;
    let delivered = 0;
    let lost = 0;
    let duplicated = 0;
    let gaps = 0;
    let monotonic = true;
    for (const p of this.pairs) {
      sent += p.sent;
      acknowledged += p.acked.size;
      delivered += p.received.length;
      lost += missing(p);
      // A retried send stored twice arrives under two message ids with one body; a re-delivery shows as a seq regression.
      const bodies = p.received.map((m) => m.body);
      duplicated += bodies.length - new Set(bodies).size;
      if (p.receiver.stats.inboxSeqRegressions > 0) monotonic = false;
      const seqs = p.received.map((m) => m.seq);
      for (let i = 1; i < seqs.length; i++) {
        const prev = seqs[i - 1] ?? 0;
        const cur = seqs[i] ?? 0;
        if (cur <= prev) monotonic = false;
        else gaps += cur - prev - 1;
      }
    }
    return {
      sent,
      acknowledged,
      delivered,
      lostAcknowledged: lost,
      duplicated,
      seqMonotonic: monotonic,
      seqGaps: gaps,
      unacknowledged: sent - acknowledged,
    };
  }

  /** Every client connected right now (after a gateway fault: all came back). */
  allConnected(): boolean {
    return this.pairs.every((p) => p.sender.isOpen && p.receiver.isOpen);
  }

  close(): void {
    this.running = false;
    this.closing = true;
    for (const p of this.pairs) {
      p.sender.close();
      p.receiver.close();
    }
  }
}
