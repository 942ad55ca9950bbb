/**
 * Load shapes, apart from journeys. WebSocket journeys hold one connection per VU for the whole window, so
 * they run as one iteration per VU; HTTP bursts use an arrival rate.
 */
import type { Scenario } from "k6/options";
import type { RunConfig } from "./config.ts";

/** Every VU runs the journey once, all at the same time (a journey bounds its own duration). */
export function heldConnections(cfg: RunConfig, exec = "default"): Scenario {
  return {
    executor: "per-vu-iterations",
    vus: cfg.vus,
    iterations: 1,
    maxDuration: `${Math.ceil(cfg.durationSeconds + 60)}s`,
    exec,
  };
}

/** Connections ramped up to cfg.vus over the window, then ramped down. */
export function connectStorm(cfg: RunConfig, exec = "default"): Scenario {
  const ramp = Math.max(1, Math.round(cfg.durationSeconds * 0.8));
  return {
    executor: "ramping-vus",
    startVUs: 0,
    stages: [
      { duration: `${ramp}s`, target: cfg.vus },
      { duration: `${Math.max(1, Math.round(cfg.durationSeconds - ramp))}s`, target: cfg.vus },
    ],
    gracefulRampDown: "5s",
    exec,
  };
}

/** A fixed number of requests per second, whatever their latency. */
export function arrivalRate(cfg: RunConfig, exec = "default"): Scenario {
  return {
    executor: "constant-arrival-rate",
    rate: Math.max(1, Math.round(cfg.rate)),
    timeUnit: "1s",
    duration: `${Math.ceil(cfg.durationSeconds)}s`,
    preAllocatedVUs: Math.max(2, cfg.vus),
    maxVUs: Math.max(10, cfg.vus * 4),
    exec,
  };
}
