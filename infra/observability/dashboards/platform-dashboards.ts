/**
 * The platform's Grafana dashboards, generated from code: the overview, one per service, and one per tenant.
 *
 * A tenant here is one deployment of the platform: a stack (stacks/<name>.yaml) in one cloud, e.g. aws-prod on
 * AWS, or multicloud's Alibaba Cloud half. Each is an isolated failure, capacity and billing domain with its own
 * data tier. Its series carry the `platform` (stack name) and `cloud` external labels that kube-prometheus-stack
 * attaches (infra/observability/monitoring.ts): in a Grafana that sees several clusters (Thanos, Mimir,
 * federation) the tenant dashboard shows only that tenant; in the cluster's own Grafana, where the labels are
 * absent, the matchers `=~"<value>|"` match every series, so the same dashboard works there too.
 * Thresholds drawn on the panels are the alert rules' (platform.rules.yml).
 */
import { renderDashboard, type DashboardSpec, type GrafanaDashboard, type PanelSpec, type Row } from "./grafana.ts";

export const DASHBOARD_SERVICES = ["gateway", "message", "user-center"] as const;
export type DashboardService = (typeof DASHBOARD_SERVICES)[number];

export interface Tenant {
  /** The stack's name (spec.name), e.g. "aws-prod". */
  platform: string;
  cloud: string;
  region: string;
}

/** Label matchers added to every selector of a dashboard: none for the overview, the tenant's for a tenant. */
type Scope = string[];

function sel(metric: string, scope: Scope, ...matchers: string[]): string {
  const all = [...matchers, ...scope];
  return all.length ? `${metric}{${all.join(", ")}}` : metric;
}

const p99 = (metric: string, scope: Scope, by = "", ...m: string[]) =>
  `histogram_quantile(0.99, sum by (le${by ? `, ${by}` : ""}) (rate(${sel(`${metric}_bucket`, scope, ...m)}[5m])))`;
const quantile = (q: number, metric: string, scope: Scope) =>
  `histogram_quantile(${q}, sum by (le) (rate(${sel(`${metric}_bucket`, scope)}[5m])))`;

function serviceLevel(scope: Scope): Row {
  return {
    title: "Service level (seed: p99 delivery < 150 ms, backlog < 1,000)",
    panels: [
      {
        kind: "stat",
        title: "p99 delivery",
        unit: "s",
        threshold: 0.15,
        queries: [{ expr: p99("im_delivery_latency_seconds", scope) }],
      },
      {
        kind: "stat",
        title: "Message backlog",
        unit: "short",
        threshold: 1000,
        queries: [{ expr: `sum(${sel("im_message_consumer_lag", scope)})` }],
      },
      {
        kind: "stat",
        title: "Server error rate",
        unit: "percent",
        threshold: 1,
        queries: [
          {
            expr: `sum(rate(${sel("im_requests_total", scope, 'code=~"5.."')}[5m])) / sum(rate(${sel("im_requests_total", scope)}[5m])) * 100`,
          },
        ],
      },
      {
        kind: "stat",
        title: "Open connections",
        unit: "short",
        queries: [{ expr: `sum(${sel("im_gateway_connections", scope)})` }],
      },
      {
        kind: "timeseries",
        title: "Delivery latency (store to push)",
        unit: "s",
        threshold: 0.15,
        queries: [
          { expr: quantile(0.5, "im_delivery_latency_seconds", scope), legend: "p50" },
          { expr: quantile(0.95, "im_delivery_latency_seconds", scope), legend: "p95" },
          { expr: quantile(0.99, "im_delivery_latency_seconds", scope), legend: "p99" },
        ],
      },
      {
        kind: "timeseries",
        title: "Sends by result",
        unit: "reqps",
        queries: [
          { expr: `sum by (result) (rate(${sel("im_message_sends_total", scope)}[1m]))`, legend: "{{result}}" },
        ],
      },
    ],
  };
}

function capacity(scope: Scope): Row {
  return {
    title: "Capacity (seed: CPU < 85 %, bandwidth < 70 %, packet loss < 5 %)",
    panels: [
      {
        kind: "timeseries",
        title: "Host CPU",
        unit: "percent",
        threshold: 85,
        queries: [
          {
            expr: `(1 - avg by (instance) (rate(${sel("node_cpu_seconds_total", scope, 'mode="idle"')}[1m]))) * 100`,
            legend: "{{instance}}",
          },
        ],
      },
      {
        kind: "timeseries",
        title: "Gateway egress against its cap",
        unit: "percent",
        threshold: 70,
        queries: [
          {
            expr: `sum by (instance) (rate(${sel("im_gateway_bytes_out_total", scope)}[1m])) / sum by (instance) (${sel("im_gateway_egress_cap_bytes_per_second", scope)}) * 100`,
            legend: "{{instance}}",
          },
        ],
      },
      {
        kind: "timeseries",
        title: "Packet loss (TCP retransmits)",
        unit: "percent",
        threshold: 5,
        queries: [
          {
            expr: `rate(${sel("node_netstat_Tcp_RetransSegs", scope)}[5m]) / rate(${sel("node_netstat_Tcp_OutSegs", scope)}[5m]) * 100`,
            legend: "{{instance}}",
          },
        ],
      },
      {
        kind: "timeseries",
        title: "Free disk",
        unit: "percent",
        queries: [
          {
            expr: `${sel("node_filesystem_avail_bytes", scope, 'fstype!~"tmpfs|overlay|squashfs"')} / ${sel("node_filesystem_size_bytes", scope, 'fstype!~"tmpfs|overlay|squashfs"')} * 100`,
            legend: "{{instance}} {{mountpoint}}",
          },
        ],
      },
    ],
  };
}

function dataTier(scope: Scope): Row {
  return {
    title: "Data tier",
    panels: [
      {
        kind: "stat",
        title: "Redis nodes up",
        unit: "short",
        queries: [{ expr: `sum(${sel("redis_up", scope, 'job="redis"')})` }],
      },
      {
        kind: "stat",
        title: "Kafka brokers up",
        unit: "short",
        queries: [{ expr: `sum(${sel("up", scope, 'job="kafka"')})` }],
      },
      { kind: "stat", title: "Database up", unit: "short", queries: [{ expr: `min(${sel("mysql_up", scope)})` }] },
      {
        kind: "stat",
        title: "Alerts firing",
        unit: "short",
        threshold: 1,
        queries: [{ expr: `count(${sel("ALERTS", scope, 'alertstate="firing"')}) or vector(0)` }],
      },
      {
        kind: "timeseries",
        title: "Redis replica lag",
        unit: "s",
        threshold: 5,
        queries: [
          {
            expr: `max by (instance, slave_port) (${sel("redis_connected_slave_lag_seconds", scope, 'job="redis"')})`,
            legend: "{{instance}} -> :{{slave_port}}",
          },
        ],
      },
      {
        kind: "timeseries",
        title: "Kafka partitions under-replicated / below min ISR",
        unit: "short",
        threshold: 1,
        queries: [
          {
            expr: `sum(${sel("kafka_server_replicamanager_value", scope, 'name="UnderReplicatedPartitions"')})`,
            legend: "under-replicated",
          },
          {
            expr: `sum(${sel("kafka_server_replicamanager_value", scope, 'name="UnderMinIsrPartitionCount"')})`,
            legend: "below min ISR",
          },
        ],
      },
      {
        kind: "timeseries",
        title: "Fan-out consumer lag by instance",
        unit: "short",
        threshold: 1000,
        queries: [{ expr: `sum by (instance) (${sel("im_message_consumer_lag", scope)})`, legend: "{{instance}}" }],
      },
      {
        kind: "timeseries",
        title: "Redis Cluster state (1 = ok)",
        unit: "short",
        queries: [{ expr: `min(${sel("redis_cluster_state", scope, 'job="redis"')})`, legend: "cluster_state" }],
      },
    ],
  };
}

export function overviewDashboard(): GrafanaDashboard {
  const scope: Scope = [];
  return renderDashboard({
    uid: "im-overview",
    title: "IM platform: overview",
    tags: ["im-platform"],
    description:
      "The whole platform at a glance: the seed's service levels and alert thresholds, capacity, the data tier.",
    rows: [serviceLevel(scope), capacity(scope), dataTier(scope)],
  });
}

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

export function tenantDashboard(t: Tenant): GrafanaDashboard {
  const scope: Scope = [`platform=~"${t.platform}|"`, `cloud=~"${t.cloud}|"`];
  const spec: DashboardSpec = {
    uid: `im-tenant-${t.platform}-${t.cloud}`.slice(0, 40),
    title: `IM tenant: ${t.platform} on ${t.cloud} (${t.region})`,
    tags: ["im-platform", "tenant", t.platform, t.cloud],
    description: `What the users of ${t.platform} on ${t.cloud} get: delivery, errors, connections and the capacity behind them.`,
    rows: [serviceLevel(scope), capacity(scope), dataTier(scope)],
  };
  return renderDashboard(spec);
}

/** Every dashboard of a deployment: the overview, one per service, one per tenant. */
export function platformDashboards(tenants: Tenant[]): GrafanaDashboard[] {
  return [overviewDashboard(), ...DASHBOARD_SERVICES.map(serviceDashboard), ...tenants.map(tenantDashboard)];
}
