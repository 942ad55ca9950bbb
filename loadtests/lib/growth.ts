/**
 * The journey of a member of a growing group (loadtests/group-growth.ts): online members send to the group and
 * receive each other's messages while the owner adds members in stages. Every message from every sender must be
 * shown to every other online member once, in groupSeq order, whatever the group's sub-groups do meanwhile.
 */
import { check } from "k6";
import { clearInterval, setInterval, setTimeout } from "k6/timers";
import { addMembers, type TestUser } from "./accounts.ts";
import type { RunConfig } from "./config.ts";
import { ImSession, loadBody, sentAt } from "./im.ts";
import {
  deliveryLatency,
  duplicateMessages,
  joinedMembers,
  lostMessages,
  outOfOrderMessages,
  receivedMessages,
  unacknowledgedSends,
} from "./metrics.ts";

declare const console: { warn(...args: unknown[]): void };

const DRAIN_MS = 15_000;

export interface GrowthPlan {
  groupId: string;
  /** Online members, one per VU; VU 1 owns the group. */
  users: TestUser[];
  /** How many of the first VUs send. */
  senders: number;
  /** Members added by the owner, in `stages` equal parts spread over the window. */
  joiners: string[];
  stages: number;
}

/** Messages each sender sends: the scenario's rate shared by the senders, over the window. */
export function perSender(cfg: RunConfig, senders: number): number {
  return Math.max(1, Math.floor((cfg.durationSeconds * cfg.rate) / senders));
}

/** The owner's join stages: stage k (1-based) at k / (stages + 1) of the window. */
export function joinSchedule(cfg: RunConfig, plan: Pick<GrowthPlan, "joiners" | "stages">): Array<[number, string[]]> {
  const size = Math.ceil(plan.joiners.length / plan.stages);
  return Array.from({ length: plan.stages }, (_, k) => [
    Math.round(((k + 1) * cfg.durationSeconds * 1000) / (plan.stages + 1)),
    plan.joiners.slice(k * size, (k + 1) * size),
  ]);
}

export function growthJourney(cfg: RunConfig, plan: GrowthPlan): void {
  const me = plan.users[__VU - 1];
  if (!me) throw new Error(`VU ${__VU} has no user: setup created ${plan.users.length}`);
  const isSender = __VU <= plan.senders;
  const count = perSender(cfg, plan.senders);
  const others = plan.users.slice(0, plan.senders).filter((u) => u.userId !== me.userId);
  const intervalMs = (cfg.durationSeconds * 1000) / count;
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let opened = false;
  let lastGroupSeq = 0;
  const got = new Map<string, Set<number>>(others.map((u) => [u.userId, new Set<number>()]));
  const s = new ImSession(cfg.wsUrl, me.token, {
    onOpen: (sess) => {
      if (opened) return;
      opened = true;
      sess.follow(plan.groupId, 0);
      if (__VU === 1) startJoins(cfg, plan, me);
      if (!isSender) return;
      const first = Date.now() + Math.random() * intervalMs;
      const timer = setInterval(() => {
        const due = Date.now() < first ? 0 : Math.min(count, Math.floor((Date.now() - first) / intervalMs) + 1);
        while (sent < due) {
          sent++;
          s.send(
            { kind: "group", id: plan.groupId },
            loadBody(sent - 1, cfg.bodyBytes),
            () => acked++,
            () => {
              failed++;
              unacknowledgedSends.add(1);
            },
          );
        }
        if (sent >= count) clearInterval(timer);
      }, 250);
    },
    onMessage: (m) => {
      const from = got.get(m.from);
      if (m.to.id !== plan.groupId || !from) return;
      if (m.groupSeq !== null) {
        if (m.groupSeq < lastGroupSeq) outOfOrderMessages.add(1);
        lastGroupSeq = Math.max(lastGroupSeq, m.groupSeq);
      }
      const n = (JSON.parse(m.body) as { n?: number }).n ?? -1;
      if (from.has(n)) duplicateMessages.add(1);
      from.add(n);
      receivedMessages.add(1);
      const ts = sentAt(m.body);
      if (ts !== null) deliveryLatency.add(Date.now() - ts);
    },
  });
  s.connect();
  const owed = () => [...got.values()].reduce((n, set) => n + Math.max(0, count - set.size), 0);
  const deadline = Date.now() + cfg.durationSeconds * 1000 + intervalMs + DRAIN_MS;
  const watcher = setInterval(() => {
    const done = owed() === 0 && (!isSender || acked + failed >= count);
    if (!done && Date.now() <= deadline) return;
    clearInterval(watcher);
    check(null, {
      "connected and greeted": () => opened,
      "every group message acknowledged (senders)": () => !isSender || acked === count,
      "every other sender's message shown once (members)": () => owed() === 0,
    });
    // Conservative: a message its sender gave up on (im_unacknowledged_sends) counts here too.
    if (owed() > 0) {
      lostMessages.add(owed());
      console.warn(`VU ${__VU} (${me.userId}) ended owed ${owed()} messages; ${s.describe()}`);
    }
    s.close();
  }, 250);
}

/** The owner adds the joiners in stages; a stage the platform refuses fails its check. */
function startJoins(cfg: RunConfig, plan: GrowthPlan, owner: TestUser): void {
  for (const [atMs, ids] of joinSchedule(cfg, plan)) {
    if (ids.length === 0) continue;
    setTimeout(() => {
      let ok = true;
      try {
        for (let i = 0; i < ids.length; i += 1000) addMembers(cfg.target, owner, plan.groupId, ids.slice(i, i + 1000));
        joinedMembers.add(ids.length);
      } catch (err) {
        ok = false;
        console.warn(`join stage at ${atMs} ms failed: ${String(err)}`);
      }
      check(null, { "join stage accepted": () => ok });
    }, atMs);
  }
}
