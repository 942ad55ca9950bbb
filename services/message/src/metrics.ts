import { Counter, Gauge, Histogram } from "prom-client";
import { LATENCY_BUCKETS, type ServiceMetrics } from "../../lib/metrics.ts";

export interface MessageMetrics {
  sends: Counter<"kind" | "result">;
  storeSeconds: Histogram<"kind">;
  /** The database transaction of a send (seq allocation, message and inbox rows, commit). */
  dbSeconds: Histogram;
  /** The Kafka append of a send (acks from all in-sync replicas), including the wait for the producer. */
  kafkaSeconds: Histogram;
  notifications: Counter<"result">;
  /** Time from the event's append to Kafka to its fan-out: the store-to-notify part of delivery latency. */
  deliveryLag: Histogram;
  batchSeconds: Histogram;
  consumerLag: Gauge;
  /** Fan-out Kafka consumers replaced after losing their group coordinator or stream, by reason. */
  consumerRestarts: Counter<"reason">;
  /** 1 while this instance's fan-out consumer is a member of its group, 0 while it joins or is being replaced. */
  consumerJoined: Gauge;
  /** Members of a sub-group of a large group, when it was last fanned out (docs/groups.md). */
  subGroupMembers: Gauge<"group" | "sub_group">;
  /** From a group message's append to Kafka to the end of one sub-group's fan-out of it, last value. */
  subGroupFanoutLag: Gauge<"group" | "sub_group">;
  /** Member lists a fan-out used from memory (hit) or read from the database (miss): member-cache.ts. */
  memberCache: Counter<"result">;
  /** Members past which a sub-group is in warn state: GROUP_SUB_GROUP_CAPACITY x GROUP_WARN_RATIO (the alert's bar). */
  subGroupWarnMembers: Gauge;
  /** Automatic moves (auto-grow.ts) started, finished and rolled back; `by`: who rolled it back (auto, operator). */
  autoGrowMoves: Counter<"event" | "by">;
  /** Decisions of the automatic trigger about a group past its warn bar: grow, rebalance, skip. */
  autoGrowDecisions: Counter<"decision">;
  /** 1 on the instance that holds the automatic trigger's lease. */
  autoGrowLeader: Gauge;
}

export function messageMetrics(m: ServiceMetrics): MessageMetrics {
  const registers = [m.registry];
  return {
    sends: new Counter({
      name: "im_message_sends_total",
      help: "Send requests by conversation kind and result",
      labelNames: ["kind", "result"],
      registers,
    }),
    storeSeconds: new Histogram({
      name: "im_message_store_duration_seconds",
      help: "Store (database and Kafka) time of a send",
      labelNames: ["kind"],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    dbSeconds: new Histogram({
      name: "im_message_db_duration_seconds",
      help: "Database transaction time of a send",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    kafkaSeconds: new Histogram({
      name: "im_message_kafka_duration_seconds",
      help: "Kafka append time of a send (acks=all)",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    notifications: notificationsCounter(registers),
    deliveryLag: new Histogram({
      name: "im_message_fanout_lag_seconds",
      help: "From the event's append to Kafka to its fan-out",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    batchSeconds: new Histogram({
      name: "im_message_fanout_batch_duration_seconds",
      help: "Fan-out batch processing time",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    consumerLag: new Gauge({
      name: "im_message_consumer_lag",
      help: "Stored-message events not yet fanned out on the partitions this instance holds (Kafka consumer lag)",
      registers,
    }),
    consumerRestarts: new Counter({
      name: "im_message_fanout_consumer_restarts_total",
      help: "Fan-out Kafka consumers replaced, by reason",
      labelNames: ["reason"],
      registers,
    }),
    consumerJoined: new Gauge({
      name: "im_message_fanout_consumer_joined",
      help: "1 while the fan-out Kafka consumer is a member of its group, 0 while it joins or is replaced",
      registers,
    }),
    // Labelled by group: only groups split into sub-groups get series (large groups x GROUP_MAX_SUB_GROUPS at most).
    subGroupMembers: new Gauge({
      name: "im_message_subgroup_members",
      help: "Members of a sub-group of a large group, when it was last fanned out",
      labelNames: ["group", "sub_group"],
      registers,
    }),
    subGroupFanoutLag: new Gauge({
      name: "im_message_subgroup_fanout_lag_seconds",
      help: "From a group message's append to Kafka to the end of one sub-group's fan-out of it (last value)",
      labelNames: ["group", "sub_group"],
      registers,
    }),
    memberCache: new Counter({
      name: "im_message_member_cache_total",
      help: "Member lists a fan-out used from the message instance's memory (hit) or read from the database (miss)",
      labelNames: ["result"],
      registers,
    }),
    subGroupWarnMembers: warnBar(registers),
    ...autoGrowMetrics(registers),
  };
}

/** The automatic trigger of group growth (auto-grow.ts): its moves, its decisions, which instance leads. */
function autoGrowMetrics(
  registers: ServiceMetrics["registry"][],
): Pick<MessageMetrics, "autoGrowMoves" | "autoGrowDecisions" | "autoGrowLeader"> {
  return {
    autoGrowMoves: new Counter({
      name: "im_message_autogrow_moves_total",
      help: "Automatic group moves by event (started, finished, rolled_back) and actor (auto, operator)",
      labelNames: ["event", "by"],
      registers,
    }),
    autoGrowDecisions: new Counter({
      name: "im_message_autogrow_decisions_total",
      help: "Decisions of the automatic growth trigger about a group past its warn bar",
      labelNames: ["decision"],
      registers,
    }),
    autoGrowLeader: new Gauge({
      name: "im_message_autogrow_leader",
      help: "1 on the message instance holding the automatic growth lease",
      registers,
    }),
  };
}

/**
 * Every result has its series from the start, so "no failed notification" reads 0 in Prometheus rather than no
 * sample (a group move's analysis reads the failed ones, docs/groups.md).
 */
function notificationsCounter(registers: ServiceMetrics["registry"][]): Counter<"result"> {
  const c = new Counter({
    name: "im_message_notifications_total",
    help: "Notifications sent to gateways by result (ok, rejected: the gateway refused the request, unreachable)",
    labelNames: ["result"],
    registers,
  });
  for (const result of ["ok", "rejected", "unreachable"]) c.inc({ result }, 0);
  return c;
}

function warnBar(registers: ServiceMetrics["registry"][]): Gauge {
  return new Gauge({
    name: "im_message_subgroup_warn_members",
    help: "Members past which a sub-group is in warn state (sub-group capacity x warn ratio, messaging.groups)",
    registers,
  });
}
