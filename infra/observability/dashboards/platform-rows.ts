/**
 * The rows the overview and every tenant dashboard share: service level (the seed's targets and the alert
 * thresholds), capacity, and the data tier, each under a scope (none for the overview, the tenant's labels otherwise).
 */
import type { Row } from "./grafana.ts";
import { p99, quantile, sel, type Scope } from "./queries.ts";

export function serviceLevel(scope: Scope): Row {
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

export function capacity(scope: Scope): Row {
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
            expr:
              `sum by (instance) (rate(${sel("im_gateway_bytes_out_total", scope)}[1m])) / ` +
              `sum by (instance) (${sel("im_gateway_egress_cap_bytes_per_second", scope)}) * 100`,
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
            expr:
              `${sel("node_filesystem_avail_bytes", scope, 'fstype!~"tmpfs|overlay|squashfs"')} / ` +
              `${sel("node_filesystem_size_bytes", scope, 'fstype!~"tmpfs|overlay|squashfs"')} * 100`,
            legend: "{{instance}} {{mountpoint}}",
          },
        ],
      },
    ],
  };
}

export function dataTier(scope: Scope): Row {
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
