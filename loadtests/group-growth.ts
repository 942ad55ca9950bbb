/**
 * group-growth: a group grows from INITIAL members (default 300) to FINAL (default 3000) in STAGES join stages
 * (default 4, spread over the window) while SENDERS of its online members (default 4 of --vus, 20) send to it at
 * --rate messages a second in all (default 10) for --duration (default 60s). Past `messaging.groups.subGroupCapacity`
 * members the platform raises the group's sub-group count as they join, and past `groupWriteDiffusionMax` it turns
 * to read diffusion (docs/groups.md); run `imctl group grow <id>` (the id is in k6's setup log) meanwhile to move the
 * members already there under the same load. Thresholds: every other sender's message shown to every online member
 * once (im_lost_messages, im_duplicate_messages), in groupSeq order (im_out_of_order_messages), every join stage
 * accepted (checks), p99 delivery under --max-p99.
 */
import type { Options } from "k6/options";
import { createGroup, createUsers, registerUsers, requireReady } from "./lib/accounts.ts";
import { config } from "./lib/config.ts";
import { growthJourney, type GrowthPlan } from "./lib/growth.ts";
import { heldConnections } from "./lib/stages.ts";
import { seedThresholds } from "./lib/thresholds.ts";

declare const console: { warn(...args: unknown[]): void };

const cfg = config({ vus: 20, rate: 10, duration: "60s" });

function whole(name: string, fallback: number, min: number): number {
  const raw = __ENV[name];
  const n = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${name}: got ${JSON.stringify(raw)}; allowed: a whole number from ${min}`);
  return n;
}

const initial = whole("INITIAL", Math.max(300, cfg.vus), cfg.vus);
const final = whole("FINAL", Math.max(3000, initial), initial);
const stages = whole("STAGES", 4, 1);
const senders = Math.min(cfg.vus, whole("SENDERS", 4, 1));

export const options: Options = {
  hosts: cfg.hosts,
  scenarios: { group_growth: heldConnections(cfg) },
  thresholds: {
    ...seedThresholds(cfg.maxP99Ms),
    im_duplicate_messages: ["count==0"],
    im_out_of_order_messages: ["count==0"],
  },
  setupTimeout: "1800s",
};

export function setup(): GrowthPlan {
  requireReady(cfg.target);
  const users = createUsers(cfg.target, cfg.vus, `grow-${cfg.runId}`);
  const offline = registerUsers(cfg.target, final - cfg.vus, `grow-off-${cfg.runId}`);
  const owner = users[0];
  if (!owner) throw new Error("no users");
  const firstMembers = [...users.slice(1).map((u) => u.userId), ...offline.slice(0, initial - cfg.vus)];
  const groupId = createGroup(cfg.target, owner, `growth-${cfg.runId}`, firstMembers);
  console.warn(`group-growth: group ${groupId}: ${initial} members now, ${final} after ${stages} join stages`);
  return { groupId, users, senders, joiners: offline.slice(initial - cfg.vus), stages };
}

export default function (plan: GrowthPlan): void {
  growthJourney(cfg, plan);
}
