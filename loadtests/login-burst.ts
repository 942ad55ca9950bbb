/**
 * login-burst: RATE sign-ins per second for DURATION against the account API (a reconnect wave after an outage,
 * when every client signs in again).
 */
import { check } from "k6";
import type { Options } from "k6/options";
import { createUsers, loginRequest, requireReady } from "./lib/accounts.ts";
import { config } from "./lib/config.ts";
import { arrivalRate } from "./lib/stages.ts";

const cfg = config({ vus: 20, rate: 20, duration: "20s" });
const pool = 50;

export const options: Options = {
  hosts: cfg.hosts,
  scenarios: { login_burst: arrivalRate(cfg) },
  thresholds: {
    checks: ["rate>0.999"],
    http_req_failed: ["rate<0.001"],
    "http_req_duration{name:login}": ["p(99)<1000"],
  },
  setupTimeout: "300s",
};

export function setup(): { prefix: string } {
  requireReady(cfg.target);
  const prefix = `login-${cfg.runId}`;
  createUsers(cfg.target, pool, prefix);
  return { prefix };
}

export default function (data: { prefix: string }): void {
  const res = loginRequest(cfg.target, `${data.prefix}-${Math.floor(Math.random() * pool)}`);
  check(res, { "signed in": (r) => r.status === 200 && String(r.body).includes("token") });
}
