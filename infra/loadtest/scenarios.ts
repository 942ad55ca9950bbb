/** The load-test scenarios under loadtests/: what `imctl loadtest` runs locally and infra ships to k6-operator. */
export interface Scenario {
  name: string;
  file: string;
  description: string;
}

/** Every scenario under loadtests/ (a test checks that no file is left out). */
export const SCENARIOS: Scenario[] = [
  {
    name: "smoke",
    file: "smoke.ts",
    description: "a few pairs exchange messages for 10 s: every send acknowledged and delivered (every pull request)",
  },
  {
    name: "messaging",
    file: "messaging.ts",
    description: "1:1 messaging at a target rate (default 200 users, 200 msg/s, 60 s)",
  },
  {
    name: "group-fanout",
    file: "group-fanout.ts",
    description: "one sender to a group; SIZE=small (10, write diffusion) or SIZE=large (600, read diffusion)",
  },
  {
    name: "connect-storm",
    file: "connect-storm.ts",
    description: "WebSocket connections ramped up to --vus over --duration",
  },
  { name: "login-burst", file: "login-burst.ts", description: "--rate sign-ins per second against the account API" },
  {
    name: "soak",
    file: "soak.ts",
    description: "1:1 messaging at a modest rate for a long window (default 30 min, nightly)",
  },
  {
    name: "group-growth",
    file: "group-growth.ts",
    description:
      "a group grows from INITIAL (300) to FINAL (3000) members in STAGES (4) while SENDERS (4) of its members send: " +
      "nothing lost, repeated or out of order",
  },
];
