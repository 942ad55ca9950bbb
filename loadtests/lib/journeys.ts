/**
 * User journeys, apart from load shapes: what one VU does. Each journey ends on its own (bounded sending window,
 * then a bounded wait for what it is owed) and closes its connection.
 */
import { check } from "k6";
import { setInterval, clearInterval, setTimeout } from "k6/timers";
import type { TestUser } from "./accounts.ts";
import type { RunConfig } from "./config.ts";
import { ImSession, loadBody, sentAt } from "./im.ts";
import { deliveryLatency, lostMessages, receivedMessages } from "./metrics.ts";

/** k6 provides console (its lines go to the log as level=warning with console.warn); the ES2022 lib has no type for it. */
declare const console: { warn(...args: unknown[]): void };

/** How long a receiver waits after the sending window for messages still in flight. */
const DRAIN_MS = 10_000;

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
  let fromPartner = 0;
  let opened = false;
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
          while (sent < due)
            s.send({ kind: "user", id: partner.userId }, loadBody(sent++, cfg.bodyBytes), () => acked++);
          if (sent >= count) clearInterval(timer);
        },
        Math.min(intervalMs, 250),
      );
    },
    onMessage: (m) => {
      if (m.from !== partner.userId) return;
      fromPartner++;
      receivedMessages.add(1);
      const ts = sentAt(m.body);
      if (ts !== null) deliveryLatency.add(Date.now() - ts);
    },
  });
  s.connect();
  const deadline = Date.now() + cfg.durationSeconds * 1000 + intervalMs + DRAIN_MS + 5000;
  const watcher = setInterval(() => {
    const partnerDone = partner === me || fromPartner >= count;
    if ((sent >= count && acked >= count && partnerDone) || Date.now() > deadline) {
      clearInterval(watcher);
      check(null, {
        "connected and greeted": () => opened,
        "every send acknowledged": () => acked === count,
        "every message from the partner received": () => partner === me || fromPartner >= count,
      });
      if (partner !== me && fromPartner < count) lostMessages.add(count - fromPartner);
      // A journey that ends short says what it saw (imctl shows k6's warnings), so a loss can be told from a send
      // never made or never acknowledged.
      if (!opened || acked < count || (partner !== me && fromPartner < count)) {
        console.warn(
          `VU ${__VU} (${me.userId}) ended short: opened ${opened}, sent ${sent}/${count}, acked ${acked},` +
            ` from partner VU ${partnerOf(__VU, users.length)} (${partner.userId}) ${fromPartner}/${count}; ${s.describe()}`,
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
