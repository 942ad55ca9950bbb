/**
 * group-fanout: one sender, a group of GROUP_SIZE members of whom VUS are online. SIZE=small (10 members, write
 * diffusion: an inbox row per member) or SIZE=large (600 members by default, past the 500-member threshold: read
 * diffusion, members pull the group timeline). RATE messages per second for DURATION.
 */
import type { Options } from "k6/options";
import { createGroup, createUsers, requireReady, type TestUser } from "./lib/accounts.ts";
import { config } from "./lib/config.ts";
import { groupJourney } from "./lib/journeys.ts";
import { heldConnections } from "./lib/stages.ts";
import { seedThresholds } from "./lib/thresholds.ts";

const size = __ENV.SIZE === "large" ? "large" : "small";
const cfg = config({ vus: size === "large" ? 50 : 10, rate: size === "large" ? 2 : 5, duration: "30s" });
const groupSize = Math.max(cfg.vus, Number(__ENV.GROUP_SIZE ?? (size === "large" ? 600 : 10)));

export const options: Options = {
  hosts: cfg.hosts,
  scenarios: { [`fanout_${size}`]: heldConnections(cfg) },
  thresholds: seedThresholds(cfg.maxP99Ms),
  setupTimeout: "900s",
};

interface Data {
  users: TestUser[];
  groupId: string;
}

export function setup(): Data {
  requireReady(cfg.target);
  const online = createUsers(cfg.target, cfg.vus, `fan-${size}-${cfg.runId}`);
  const offline = createUsers(cfg.target, groupSize - cfg.vus, `fan-${size}-off-${cfg.runId}`);
  const owner = online[0];
  if (!owner) throw new Error("no users");
  const members = [...online.slice(1), ...offline].map((u) => u.userId);
  return { users: online, groupId: createGroup(cfg.target, owner, `fanout-${size}-${cfg.runId}`, members) };
}

export default function (data: Data): void {
  groupJourney(cfg, data.users, data.groupId, 0);
}
