/**
 * connect-storm: WebSocket connections ramped up to VUS over DURATION (each VU connects, is greeted, holds, and
 * leaves), the shape of a gateway restart or a morning peak.
 */
import type { Options } from "k6/options";
import { createUsers, requireReady, type TestUser } from "./lib/accounts.ts";
import { config } from "./lib/config.ts";
import { connectJourney } from "./lib/journeys.ts";
import { connectStorm } from "./lib/stages.ts";

const cfg = config({ vus: 1000, rate: 1, duration: "30s" });
const users = Math.min(cfg.vus, Number(__ENV.USERS ?? 100));

export const options: Options = {
  hosts: cfg.hosts,
  scenarios: { connect_storm: connectStorm(cfg) },
  thresholds: { checks: ["rate>0.999"], ws_connecting: ["p(95)<1000"] },
  setupTimeout: "300s",
};

export function setup(): { users: TestUser[] } {
  requireReady(cfg.target);
  return { users: createUsers(cfg.target, users, `storm-${cfg.runId}`) };
}

export default function (data: { users: TestUser[] }): void {
  connectJourney(cfg, data.users, 5000);
}
