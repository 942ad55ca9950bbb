/**
 * User journeys, apart from load shapes: what one VU does. Each journey ends on its own (bounded sending window,
 * then a bounded wait for what it is owed) and closes its connection.
 */
import { check } from "k6";
import { setInterval, clearInterval, setTimeout } from "k6/timers";
import type { TestUser } from "./accounts.ts";
import type { RunConfig } from "./config.ts";
import { ImSession, loadBody, SEND_RETRY_MS, sentAt } from "./im.ts";
import { deliveryLatency, lostMessages, receivedMessages, unacknowledgedSends } from "./metrics.ts";

/** k6 provides console (its lines go to the log as level=warning with console.warn); the ES2022 lib has no type for it. */
declare const console: { warn(...args: unknown[]): void };

/** How long a receiver waits after the sending window for messages still in flight. */
const DRAIN_MS = 10_000;

/**
 * The last message of a pair journey's sender: which of its sends were never acknowledged (it gave up on them), so
 * the receiver can tell a loss (acknowledged, never delivered) from a send its sender knows failed. VUs share no
 * memory in k6, so this travels through the platform like any message. At most MANIFEST_MAX numbers fit a body; a
 * longer list is cut (`cut`), and the receiver then counts every missing message as lost (the safe side).
 */
interface Manifest {
  manifest: true;
  count: number;
  unacked: number[];
  cut: boolean;
}
const MANIFEST_MAX = 400;

/** The sequence number `n` of a load body, or the manifest, or null for anything else. */
function parseBody(body: string): { n: number } | Manifest | null {
  try {
    const v = JSON.parse(body) as {
      n?: unknown;
      manifest?: unknown;
      count?: unknown;
      unacked?: unknown;
      cut?: unknown;
    };
    if (v.manifest === true && Array.isArray(v.unacked))
      return { manifest: true, count: Number(v.count), unacked: v.unacked.map(Number), cut: v.cut === true };
    return typeof v.n === "number" ? { n: v.n } : null;
  } catch {
    return null;
  }
}

/**
 * What a receiver was owed and never got: `missing` (never received) less what the sender said it never got
 * acknowledged. Without the sender's manifest, every missing message counts as lost.
 */
export function classifyMissing(
  count: number,
  received: Set<number>,
  manifest: Manifest | null,
): { lost: number; unacknowledged: number } {
  const unacked = manifest && !manifest.cut ? new Set(manifest.unacked) : new Set<number>();
  let lost = 0;
  let unacknowledged = 0;
  for (let n = 0; n < count; n++) {
    if (received.has(n)) continue;
    if (unacked.has(n)) unacknowledged++;
    else lost++;
  }
  return { lost, unacknowledged };
}

/** VU n (1-based) pairs with its neighbour: 1<->2, 3<->4, ... */
export function partnerOf(vu: number, count: number): number {
  const partner = vu % 2 === 1 ? vu + 1 : vu - 1;
  return partner > count ? vu : partner;
}

/**
 * 1:1 messaging: every VU sends to its partner at cfg.rate / cfg.vus messages per second for the window and
 * receives the partner's messages; what the partner sent and this VU never got counts as lost.
 */
export function pairJourney(cfg: RunConfig, users: TestUser[]): void {
  const me = users[__VU - 1];
  const partner = users[partnerOf(__VU, users.length) - 1];
  if (!me || !partner) throw new Error(`VU ${__VU} has no user: setup created ${users.length}`);
  const perVu = cfg.rate / cfg.vus;
  const count = Math.max(1, Math.floor(cfg.durationSeconds * perVu));
  const intervalMs = 1000 / perVu;
  let sent = 0;
  let acked = 0;
  let opened = false;
  /** This VU's sends not (yet) acknowledged; the ones left once all settled went into the manifest. */
  const pending = new Set<number>();
  let failed = 0;
  let manifestSent = false;
  let manifestSettled = false;
  const received = new Set<number>();
  let partnerManifest: Manifest | null = null;
  const sendOne = (n: number): void => {
    pending.add(n);
    s.send(
      { kind: "user", id: partner.userId },
      loadBody(n, cfg.bodyBytes),
      () => {
        pending.delete(n);
        acked++;
        sendManifestWhenSettled();
      },
      () => {
        failed++;
        unacknowledgedSends.add(1);
        sendManifestWhenSettled();
      },
    );
  };
  const sendManifestWhenSettled = (): void => {
    if (manifestSent || partner === me || sent < count || acked + failed < count) return;
    manifestSent = true;
    const unacked = [...pending].sort((a, b) => a - b);
    const m: Manifest = {
      manifest: true,
      count,
      unacked: unacked.slice(0, MANIFEST_MAX),
      cut: unacked.length > MANIFEST_MAX,
    };
    const settle = () => (manifestSettled = true);
    s.send({ kind: "user", id: partner.userId }, JSON.stringify(m), settle, settle, true);
  };
  const s = new ImSession(cfg.wsUrl, me.token, {
    onOpen: () => {
      if (opened) return;
      opened = true;
      // Spread the VUs' sends over the interval instead of all at once, and keep to the schedule: a tick that
      // comes late (a busy machine delays timers) sends what is due, so every send happens within the window
      // and the partner's count is not cut short by timer drift (which the partner would count as lost).
      const first = Date.now() + Math.random() * intervalMs;
      const timer = setInterval(
        () => {
          const due = Date.now() < first ? 0 : Math.min(count, Math.floor((Date.now() - first) / intervalMs) + 1);
          while (sent < due) sendOne(sent++);
          if (sent >= count) clearInterval(timer);
        },
        Math.min(intervalMs, 250),
      );
    },
    onMessage: (m) => {
      if (m.from !== partner.userId) return;
      const parsed = parseBody(m.body);
      if (parsed !== null && "manifest" in parsed) {
        partnerManifest = parsed;
        return;
      }
      if (parsed !== null) received.add(parsed.n);
      receivedMessages.add(1);
      const ts = sentAt(m.body);
      if (ts !== null) deliveryLatency.add(Date.now() - ts);
    },
  });
  s.connect();
  // Room for the partner's last sends to exhaust their retries and for its manifest to arrive; a journey where
  // everything arrives ends as soon as it has (the watcher below), so this only matters under faults.
  const deadline = Date.now() + cfg.durationSeconds * 1000 + intervalMs + DRAIN_MS + SEND_RETRY_MS + 5000;
  const watcher = setInterval(() => {
    // The partner is done when everything arrived, or when its manifest did and every send it got acknowledged
    // arrived (the rest it knows it never sent successfully).
    const owed = (): { lost: number; unacknowledged: number } => classifyMissing(count, received, partnerManifest);
    const partnerDone = partner === me || received.size >= count || (partnerManifest !== null && owed().lost === 0);
    const selfDone = sent >= count && acked + failed >= count && (partner === me || manifestSettled);
    if ((selfDone && partnerDone) || Date.now() > deadline) {
      clearInterval(watcher);
      check(null, {
        "connected and greeted": () => opened,
        "every send acknowledged": () => acked === count,
        "every message from the partner received": () => partner === me || received.size >= count,
      });
      const { lost } = partner === me ? { lost: 0 } : owed();
      // Acknowledged and never delivered: the loss the thresholds gate on. A send the partner gave up on is counted
      // by the partner as im_unacknowledged_sends.
      if (lost > 0) lostMessages.add(lost);
      // A journey that ends short says what it saw (imctl shows k6's warnings), so a loss can be told from a send
      // never made or never acknowledged.
      if (!opened || acked < count || (partner !== me && received.size < count)) {
        console.warn(
          `VU ${__VU} (${me.userId}) ended short: opened ${opened}, sent ${sent}/${count}, acked ${acked},` +
            ` gave up ${failed}, from partner VU ${partnerOf(__VU, users.length)} (${partner.userId})` +
            ` ${received.size}/${count} (lost ${lost}, manifest ${partnerManifest === null ? "missing" : "received"});` +
            ` ${s.describe()}`,
        );
      }
      s.close();
    }
  }, 250);
}

/**
 * Group fan-out: VU 1 sends to the group at cfg.rate for the window; every other VU is a member online and must
 * receive each message (from its inbox under write diffusion, from the group timeline under read diffusion).
 */
export function groupJourney(cfg: RunConfig, users: TestUser[], groupId: string, joinedAt: number): void {
  const me = users[__VU - 1];
  const sender = users[0];
  if (!me || !sender) throw new Error(`VU ${__VU} has no user`);
  const count = Math.max(1, Math.floor(cfg.durationSeconds * cfg.rate));
  let sent = 0;
  let acked = 0;
  let got = 0;
  let opened = false;
  const isSender = __VU === 1;
  const s = new ImSession(cfg.wsUrl, me.token, {
    onOpen: (sess) => {
      if (opened) return;
      opened = true;
      sess.follow(groupId, joinedAt);
      if (!isSender) return;
      const timer = setInterval(() => {
        if (sent >= count) {
          clearInterval(timer);
          return;
        }
        s.send({ kind: "group", id: groupId }, loadBody(sent++, cfg.bodyBytes), () => acked++);
      }, 1000 / cfg.rate);
    },
    onMessage: (m) => {
      if (m.to.id !== groupId || m.from !== sender.userId) return;
      got++;
      receivedMessages.add(1);
      const ts = sentAt(m.body);
      if (ts !== null) deliveryLatency.add(Date.now() - ts);
    },
  });
  s.connect();
  const deadline = Date.now() + cfg.durationSeconds * 1000 + DRAIN_MS + 5000;
  const watcher = setInterval(() => {
    const done = isSender ? acked >= count : got >= count;
    if (done || Date.now() > deadline) {
      clearInterval(watcher);
      check(null, {
        "connected and greeted": () => opened,
        "every group message acknowledged (sender) or received (member)": () => done,
      });
      if (!isSender && got < count) lostMessages.add(count - got);
      s.close();
    }
  }, 250);
}

/** Connect storm: connect, expect the gateway's hello, hold the connection for `holdMs`, leave. */
export function connectJourney(cfg: RunConfig, users: TestUser[], holdMs: number): void {
  const me = users[(__VU - 1) % users.length];
  if (!me) throw new Error("no users");
  let greeted = false;
  const s = new ImSession(cfg.wsUrl, me.token, { onOpen: () => (greeted = true) });
  s.connect();
  setTimeout(() => {
    check(null, { "connected and greeted": () => greeted });
    s.close();
  }, holdMs);
}
