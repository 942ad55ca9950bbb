/**
 * smoke: a few pairs of users exchange messages for a short window through the edge. Every send acknowledged,
 * every message delivered, p99 delivery under the bar. Run on every pull request and inside `npm test`.
 */
import type { Options } from "k6/options";
import { createUsers, requireReady, type TestUser } from "./lib/accounts.ts";
import { config } from "./lib/config.ts";
import { pairJourney } from "./lib/journeys.ts";
import { heldConnections } from "./lib/stages.ts";
import { seedThresholds } from "./lib/thresholds.ts";

const cfg = config({ vus: 4, rate: 4, duration: "10s" });

export const options: Options = {
  hosts: cfg.hosts,
  scenarios: { smoke: heldConnections(cfg) },
  thresholds: seedThresholds(cfg.maxP99Ms),
  setupTimeout: "120s",
};

export function setup(): { users: TestUser[] } {
  requireReady(cfg.target);
  return { users: createUsers(cfg.target, cfg.vus, `smoke-${cfg.runId}`) };
}

export default function (data: { users: TestUser[] }): void {
  pairJourney(cfg, data.users);
}
