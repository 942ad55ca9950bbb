/**
 * Prometheus metrics shared by the services. Every series carries `service`, `version` and `instance` labels,
 * so a canary analysis can compare the new version against the stable one.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface ServiceMetrics {
  registry: Registry;
  requests: Counter<"route" | "method" | "code">;
  requestSeconds: Histogram<"route" | "method">;
  info: Gauge;
}

/** Buckets for latencies that must stay under 150 ms at p99 (the seed's bar). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5];

export function createMetrics(service: string, cfg: { SERVICE_VERSION: string; INSTANCE_ID: string }): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service, version: cfg.SERVICE_VERSION, instance: cfg.INSTANCE_ID });
  collectDefaultMetrics({ register: registry, prefix: "im_process_" });
  const info = new Gauge({
    name: "im_build_info",
    help: "Always 1; labels carry the service version",
    registers: [registry],
  });
  info.set(1);
  return {
    registry,
    info,
    requests: new Counter({
      name: "im_requests_total",
      help: "Requests handled, by route and result code",
      labelNames: ["route", "method", "code"],
      registers: [registry],
    }),
    requestSeconds: new Histogram({
      name: "im_request_duration_seconds",
      help: "Request duration",
      labelNames: ["route", "method"],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
  };
}
