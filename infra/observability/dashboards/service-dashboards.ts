/** One dashboard per service: RED metrics, resources and versions (canary), and the rows only that service has. */
import { renderDashboard, type GrafanaDashboard, type PanelSpec, type Row } from "./grafana.ts";
import { p99, sel } from "./queries.ts";

export const DASHBOARD_SERVICES = ["gateway", "message", "user-center"] as const;
export type DashboardService = (typeof DASHBOARD_SERVICES)[number];

function commonServicePanels(s: DashboardService): PanelSpec[] {
  const svc = `service="${s}"`;
  return [
    {
      kind: "stat",
      title: "Instances scraped",
      unit: "short",
      queries: [{ expr: `count(${sel("im_build_info", [], svc)})` }],
    },
    {
      kind: "stat",
      title: "Versions running",
      unit: "short",
      description: "More than one during a canary release.",
      queries: [{ expr: `count(count by (version) (${sel("im_build_info", [], svc)}))` }],
    },
    {
      kind: "timeseries",
      title: "Requests by route and code",
      unit: "reqps",
      queries: [
        { expr: `sum by (route, code) (rate(${sel("im_requests_total", [], svc)}[1m]))`, legend: "{{route}} {{code}}" },
      ],
    },
    {
      kind: "timeseries",
      title: "Request p99 by route",
      unit: "s",
      threshold: 0.15,
      queries: [{ expr: p99("im_request_duration_seconds", [], "route", svc), legend: "{{route}}" }],
    },
    {
      kind: "timeseries",
      title: "CPU by instance",
      unit: "percent",
      queries: [
        { expr: `rate(${sel("im_process_process_cpu_seconds_total", [], svc)}[1m]) * 100`, legend: "{{instance}}" },
      ],
    },
    {
      kind: "timeseries",
      title: "Resident memory",
      unit: "bytes",
      queries: [{ expr: sel("im_process_process_resident_memory_bytes", [], svc), legend: "{{instance}}" }],
    },
    {
      kind: "timeseries",
      title: "Event loop lag p99",
      unit: "s",
      queries: [{ expr: sel("im_process_nodejs_eventloop_lag_p99_seconds", [], svc), legend: "{{instance}}" }],
    },
    {
      kind: "timeseries",
      title: "Instances by version",
      unit: "short",
      queries: [{ expr: `count by (version) (${sel("im_build_info", [], svc)})`, legend: "{{version}}" }],
    },
  ];
}

const SERVICE_ROWS: Record<DashboardService, () => Row[]> = {
  gateway: () => [
    {
      title: "Connections and traffic",
      panels: [
        {
          kind: "timeseries",
          title: "Open connections",
          unit: "short",
          queries: [{ expr: "im_gateway_connections", legend: "{{instance}}" }],
        },
        {
          kind: "timeseries",
          title: "Connections refused by reason",
          unit: "reqps",
          queries: [{ expr: "sum by (reason) (rate(im_gateway_connections_refused_total[1m]))", legend: "{{reason}}" }],
        },
        {
          kind: "timeseries",
          title: "Frames by type and result",
          unit: "reqps",
          queries: [
            { expr: "sum by (type, result) (rate(im_gateway_frames_total[1m]))", legend: "{{type}} {{result}}" },
          ],
        },
        {
          kind: "timeseries",
          title: "Frame p99 by type",
          unit: "s",
          threshold: 0.15,
          queries: [{ expr: p99("im_gateway_frame_duration_seconds", [], "type"), legend: "{{type}}" }],
        },
        {
          kind: "timeseries",
          title: "Bytes in and out",
          unit: "Bps",
          queries: [
            { expr: "sum(rate(im_gateway_bytes_in_total[1m]))", legend: "in" },
            { expr: "sum(rate(im_gateway_bytes_out_total[1m]))", legend: "out" },
          ],
        },
        {
          kind: "timeseries",
          title: "Egress against the cap",
          unit: "percent",
          threshold: 70,
          queries: [
            {
              expr: "sum by (instance) (rate(im_gateway_bytes_out_total[1m])) / sum by (instance) (im_gateway_egress_cap_bytes_per_second) * 100",
              legend: "{{instance}}",
            },
          ],
        },
        {
          kind: "timeseries",
          title: "Bytes waiting for egress budget",
          unit: "bytes",
          queries: [{ expr: "im_gateway_egress_queued_bytes", legend: "{{instance}}" }],
        },
        {
          kind: "timeseries",
          title: "Slow consumers cut and idle connections closed",
          unit: "reqps",
          queries: [
            { expr: "sum(rate(im_gateway_slow_consumers_total[5m]))", legend: "slow consumers" },
            { expr: "sum(rate(im_gateway_idle_closed_total[5m]))", legend: "idle closed" },
          ],
        },
        {
          kind: "timeseries",
          title: "Delivery p99 (store to push)",
          unit: "s",
          threshold: 0.15,
          wide: true,
          queries: [{ expr: p99("im_delivery_latency_seconds", []), legend: "p99" }],
        },
      ],
    },
  ],
  message: () => [
    {
      title: "Store and fan-out",
      panels: [
        {
          kind: "timeseries",
          title: "Sends by kind and result",
          unit: "reqps",
          queries: [
            { expr: "sum by (kind, result) (rate(im_message_sends_total[1m]))", legend: "{{kind}} {{result}}" },
          ],
        },
        {
          kind: "timeseries",
          title: "Store p99: database and Kafka parts",
          unit: "s",
          queries: [
            { expr: p99("im_message_store_duration_seconds", []), legend: "store" },
            { expr: p99("im_message_db_duration_seconds", []), legend: "database" },
            { expr: p99("im_message_kafka_duration_seconds", []), legend: "kafka (acks=all)" },
          ],
        },
        {
          kind: "timeseries",
          title: "Fan-out lag p99 (Kafka append to fan-out)",
          unit: "s",
          queries: [{ expr: p99("im_message_fanout_lag_seconds", []), legend: "p99" }],
        },
        {
          kind: "timeseries",
          title: "Fan-out batch p99",
          unit: "s",
          queries: [{ expr: p99("im_message_fanout_batch_duration_seconds", []), legend: "p99" }],
        },
        {
          kind: "timeseries",
          title: "Consumer lag (backlog)",
          unit: "short",
          threshold: 1000,
          queries: [{ expr: "im_message_consumer_lag", legend: "{{instance}}" }],
        },
        {
          kind: "timeseries",
          title: "Fan-out consumer in its group (1) and replacements",
          unit: "short",
          description:
            "0 while an instance's consumer joins or is replaced: it stores sends but fans nothing out. MessageFanoutOutOfGroup fires after 2 minutes at 0.",
          queries: [
            { expr: "im_message_fanout_consumer_joined", legend: "{{instance}} in group" },
            {
              expr: "sum by (instance, reason) (increase(im_message_fanout_consumer_restarts_total[5m]))",
              legend: "{{instance}} replaced: {{reason}}",
            },
          ],
        },
        {
          kind: "timeseries",
          title: "Notifications to gateways by result",
          unit: "reqps",
          queries: [{ expr: "sum by (result) (rate(im_message_notifications_total[1m]))", legend: "{{result}}" }],
        },
      ],
    },
  ],
  "user-center": () => [],
};

export function serviceDashboard(s: DashboardService): GrafanaDashboard {
  return renderDashboard({
    uid: `im-service-${s}`,
    title: `IM platform: ${s}`,
    tags: ["im-platform", "service"],
    description: `The ${s} service: RED metrics, resources and versions (canary), and what only ${s} does.`,
    rows: [{ title: "Requests, resources, versions", panels: commonServicePanels(s) }, ...SERVICE_ROWS[s]()],
  });
}
