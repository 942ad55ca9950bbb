/**
 * soak: 1:1 messaging at a modest rate for a long window (nightly): leaks, slow growth of latency, lost
 * messages after many reconnects and rebalances.
 */
import type { Options } from "k6/options";
import { createUsers, requireReady, type TestUser } from "./lib/accounts.ts";
import { config } from "./lib/config.ts";
import { pairJourney } from "./lib/journeys.ts";
import { heldConnections } from "./lib/stages.ts";
import { seedThresholds } from "./lib/thresholds.ts";

const cfg = config({ vus: 100, rate: 50, duration: "30m" });

export const options: Options = {
  hosts: cfg.hosts,
  scenarios: { soak: heldConnections(cfg) },
  thresholds: seedThresholds(cfg.maxP99Ms),
  setupTimeout: "600s",
};

export function setup(): { users: TestUser[] } {
  requireReady(cfg.target);
  return { users: createUsers(cfg.target, cfg.vus, `soak-${cfg.runId}`) };
}

export default function (data: { users: TestUser[] }): void {
  pairJourney(cfg, data.users);
}
