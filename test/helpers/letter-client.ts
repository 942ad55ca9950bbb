/**
 * A client that follows the push rule of the protocol to the letter (services/lib/protocol.ts, `notify`): when a
 * push's messages start at or below its next seq, it takes every one above its last seq as it is, without checking
 * them one by one; otherwise it pulls everything after its last seq. It records what it took, so a test can tell
 * whether a push ever carried a hole such a client would have stepped over (a live gap).
 */
import WebSocket from "ws";
import {
  wsProtocols,
  type PullResult,
  type ServerFrame,
  type SyncResult,
  type WireMessage,
} from "../../services/lib/protocol.ts";

export interface LiveGap {
  /** The client's last seq when it took the message. */
  after: number;
  /** The seq it took next. */
  took: number;
}

export class LetterClient {
  private ws: WebSocket | null = null;
  private rid = 0;
  private readonly waiting = new Map<string, (f: ServerFrame) => void>();
  private pulling = false;
  private pullAgain = false;
  last = 0;
  /** Every seq taken, in the order taken. */
  readonly taken: number[] = [];
  readonly liveGaps: LiveGap[] = [];
  /** Pushes whose messages were taken (the rule applied), and pulls made. */
  pushesTaken = 0;
  pulls = 0;

  /** Attempts to connect again after a lost connection (with `reconnect`), failed ones included. */
  reconnects = 0;
  private closedByUser = false;

  /**
   * @param reconnect connect again (after a random 0-1 s) whenever the connection is lost, as a client must; the
   *   hello of each connection starts a pull after the last seq, as the protocol says. Default false.
   */
  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly reconnect = false,
  ) {}

  async connect(): Promise<string> {
    const ws = new WebSocket(this.url, wsProtocols(this.token), { perMessageDeflate: false });
    this.ws = ws;
    let opened = false;
    ws.on("close", () => {
      if (this.ws !== ws) return;
      // Requests on the lost connection are never answered: fail them, so a pull under way ends.
      for (const w of this.waiting.values()) w({ t: "err", error: "disconnected", message: "connection lost" });
      this.waiting.clear();
      // A handshake that failed is retried by the caller of connect() (again() catches it).
      if (this.reconnect && opened && !this.closedByUser) this.again();
    });
    const hello = await new Promise<ServerFrame>((resolve, reject) => {
      ws.once("message", (d) => resolve(JSON.parse(String(d)) as ServerFrame));
      ws.once("error", reject);
      ws.once("unexpected-response", (_q, res) => reject(new Error(`handshake refused with ${res.statusCode}`)));
    });
    if (hello.t !== "hello") throw new Error(`first frame ${hello.t}, not hello`);
    opened = true;
    ws.on("message", (d) => this.frame(JSON.parse(String(d)) as ServerFrame));
    this.pull();
    return hello.userId;
  }

  private take(m: WireMessage): void {
    if (m.seq <= this.last) return;
    if (m.seq !== this.last + 1) this.liveGaps.push({ after: this.last, took: m.seq });
    this.last = m.seq;
    this.taken.push(m.seq);
  }

  private frame(f: ServerFrame): void {
    if ((f.t === "res" || f.t === "ack" || f.t === "err") && f.rid !== undefined) {
      const w = this.waiting.get(f.rid);
      this.waiting.delete(f.rid);
      w?.(f);
      return;
    }
    if (f.t !== "notify") return;
    const first = f.msgs?.[0];
    if (f.msgs && first && first.seq <= this.last + 1) {
      this.pushesTaken++;
      for (const m of f.msgs) this.take(m);
    } else if (f.seq > this.last) this.pull();
  }

  private request<T>(frame: Record<string, unknown>): Promise<T> {
    const rid = String(++this.rid);
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(rid, (f) => (f.t === "res" ? resolve(f.result as T) : reject(new Error(JSON.stringify(f)))));
      this.ws?.send(JSON.stringify({ ...frame, rid }));
    });
  }

  /** Pulls after the last seq until the inbox is exhausted; one pull at a time, again if asked meanwhile. */
  pull(): void {
    if (this.pulling) {
      this.pullAgain = true;
      return;
    }
    this.pulling = true;
    void (async () => {
      do {
        this.pullAgain = false;
        for (;;) {
          this.pulls++;
          const r = await this.request<PullResult>({ t: "pull", after: this.last, limit: 200 });
          for (const m of r.messages) this.take(m);
          if (r.messages.length < 200) break;
        }
      } while (this.pullAgain);
    })()
      // A pull cut by a lost connection: the next connection's hello pulls again.
      .catch(() => undefined)
      .finally(() => (this.pulling = false));
  }

  /** The inbox head the platform has for this user now. */
  async head(): Promise<number> {
    return (await this.request<SyncResult>({ t: "sync" })).inboxHead;
  }

  close(): void {
    this.closedByUser = true;
    this.ws?.close();
  }

  private again(): void {
    setTimeout(
      () => {
        if (this.closedByUser) return;
        this.reconnects++;
        this.connect().catch(() => this.again());
      },
      200 + Math.random() * 1000,
    );
  }
}
