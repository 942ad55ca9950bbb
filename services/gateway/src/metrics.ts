import { Counter, Gauge, Histogram } from "prom-client";
import { LATENCY_BUCKETS, type ServiceMetrics } from "../../lib/metrics.ts";

export interface GatewayMetrics {
  connections: Gauge;
  refused: Counter<"reason">;
  frames: Counter<"type" | "result">;
  frameSeconds: Histogram<"type">;
  bytesIn: Counter;
  bytesOut: Counter;
  egressCap: Gauge;
  egressQueued: Gauge;
  slowConsumers: Counter;
  idleClosed: Counter;
  /** From the message's store to the gateway's push: the server side of delivery latency. */
  deliverySeconds: Histogram;
}

export function gatewayMetrics(m: ServiceMetrics): GatewayMetrics {
  const registers = [m.registry];
  return {
    connections: new Gauge({ name: "im_gateway_connections", help: "Open WebSocket connections", registers }),
    refused: new Counter({
      name: "im_gateway_connections_refused_total",
      help: "Connections refused, by reason (limit, draining, unauthorized, token_expired, token_in_url)",
      labelNames: ["reason"],
      registers,
    }),
    frames: new Counter({
      name: "im_gateway_frames_total",
      help: "Client frames by type and result",
      labelNames: ["type", "result"],
      registers,
    }),
    frameSeconds: new Histogram({
      name: "im_gateway_frame_duration_seconds",
      help: "Time to answer a client frame",
      labelNames: ["type"],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    bytesIn: new Counter({ name: "im_gateway_bytes_in_total", help: "Bytes received from clients", registers }),
    bytesOut: new Counter({ name: "im_gateway_bytes_out_total", help: "Bytes sent to clients", registers }),
    egressCap: new Gauge({
      name: "im_gateway_egress_cap_bytes_per_second",
      help: "Egress bandwidth cap of this instance",
      registers,
    }),
    egressQueued: new Gauge({
      name: "im_gateway_egress_queued_bytes",
      help: "Bytes waiting for egress budget",
      registers,
    }),
    slowConsumers: new Counter({
      name: "im_gateway_slow_consumers_total",
      help: "Connections cut because their send buffer passed the limit",
      registers,
    }),
    idleClosed: new Counter({
      name: "im_gateway_idle_closed_total",
      help: "Connections closed for idleness",
      registers,
    }),
    deliverySeconds: new Histogram({
      name: "im_delivery_latency_seconds",
      help: "From a message's store to the push of its notification",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
  };
}
