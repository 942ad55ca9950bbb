/**
 * messaging: 1:1 messaging at a target rate. VUS users in pairs, RATE messages per second in total, for DURATION.
 */
import type { Options } from "k6/options";
import { createUsers, requireReady, type TestUser } from "./lib/accounts.ts";
import { config } from "./lib/config.ts";
import { pairJourney } from "./lib/journeys.ts";
import { heldConnections } from "./lib/stages.ts";
import { seedThresholds } from "./lib/thresholds.ts";

const cfg = config({ vus: 200, rate: 200, duration: "60s" });

export const options: Options = {
  hosts: cfg.hosts,
  scenarios: { messaging: heldConnections(cfg) },
  thresholds: seedThresholds(cfg.maxP99Ms),
  setupTimeout: "600s",
};

export function setup(): { users: TestUser[] } {
  requireReady(cfg.target);
  return { users: createUsers(cfg.target, cfg.vus, `msg-${cfg.runId}`) };
}

export default function (data: { users: TestUser[] }): void {
  pairJourney(cfg, data.users);
}
