/**
 * The monthly cost model: what a kubernetes stack's fixed capacity costs at list prices (infra/lib/pricing.ts).
 * Counted: control planes, nodes at their desired size, the app-data VPC peering, NAT gateways, the ingress load balancer, TiKV disks,
 * managed Redis and Kafka (or their disks when in-cluster), one full backup copy, the VPN. Not counted: traffic
 * (egress, NAT and LB processing), requests, snapshots, support plans and discounts. docs/pricing.md explains why.
 */
import { FIXED, HOURS_PER_MONTH, INSTANCES, KAFKA_BROKERS, REDIS_NODES, type Price } from "./pricing.ts";
import type { CloudName } from "./regions.ts";
import type { CloudSpec } from "./spec-cloud.ts";

export interface CostLine {
  cloud: CloudName;
  item: string;
  quantity: number;
  unit: "hour" | "GB-month";
  unitUsd: number;
  monthlyUsd: number;
}

export interface CostEstimate {
  lines: CostLine[];
  /** Sum of the lines, rounded to cents. */
  monthlyCostUsd: number;
  /** Items without a price in the table (named so the gap is visible, never priced at 0 silently). */
  unpriced: string[];
  /** Lines whose price is an estimate still to be checked against the vendor (see infra/lib/pricing.ts). */
  unchecked: string[];
}

/** What the cost model reads: the clouds, the shared data-tier counts, and whether the clouds are joined. */
export interface CostInput {
  clouds: { aws?: CloudSpec | undefined; alicloud?: CloudSpec | undefined };
  data: { redis: { primaries: number; replicasPerPrimary: number }; kafka: { brokers: number } };
  multicloud?: unknown;
}

export function monthlyCost(spec: CostInput): CostEstimate {
  const lines: CostLine[] = [];
  const unpriced: string[] = [];
  const unchecked = new Set<string>();
  const add = (cloud: CloudName, item: string, quantity: number, price: Price | undefined) => {
    if (price === undefined) {
      unpriced.push(`${cloud}: ${item}`);
      return;
    }
    if (!price.checked) unchecked.add(`${cloud}: ${item}`);
    const monthly = price.per === "hour" ? quantity * price.usd * HOURS_PER_MONTH : quantity * price.usd;
    lines.push({ cloud, item, quantity, unit: price.per, unitUsd: price.usd, monthlyUsd: cents(monthly) });
  };
  for (const cloud of ["aws", "alicloud"] as const) {
    const c = spec.clouds[cloud];
    if (c === undefined) continue;
    const fixed = FIXED[cloud];
    add(cloud, "Kubernetes control plane", 1, fixed.controlPlane);
    for (const g of ["app", "data"] as const) {
      const ng = c.cluster.nodeGroups[g];
      add(cloud, `${g} nodes (${ng.instanceType})`, ng.desired, INSTANCES[cloud][ng.instanceType]);
    }
    // The link between the app VPC and the data VPC (infra/lib/vpc-rules.ts): shown even at 0 so the plan prices it.
    add(cloud, "VPC peering (app <-> data)", 1, fixed.vpcPeering);
    add(cloud, "NAT gateways", c.network.natGateways === "perZone" ? c.zones.length : 1, fixed.natGateway);
    add(cloud, "ingress load balancer", 1, fixed.loadBalancer);
    add(cloud, "TiKV disks (GB)", c.data.tidb.tikv * c.data.tidb.storageGb, fixed.blockStorage);
    const redis = spec.data.redis;
    if (c.data.redis.mode === "managed") {
      // ElastiCache bills every node; Tair's cluster edition bills per shard with its replica included.
      const units = cloud === "aws" ? redis.primaries * (1 + redis.replicasPerPrimary) : redis.primaries;
      add(
        cloud,
        `Redis ${cloud === "aws" ? "nodes" : "shards"} (${c.data.redis.nodeType})`,
        units,
        REDIS_NODES[cloud][c.data.redis.nodeType],
      );
    }
    const brokers = spec.data.kafka.brokers;
    if (c.data.kafka.mode === "managed") {
      add(cloud, `Kafka brokers (${c.data.kafka.brokerType})`, brokers, KAFKA_BROKERS[cloud][c.data.kafka.brokerType]);
      add(cloud, "Kafka broker storage (GB)", brokers * c.data.kafka.storageGb, fixed.kafkaStorage);
    } else {
      add(cloud, "Kafka broker disks (GB)", brokers * c.data.kafka.storageGb, fixed.blockStorage);
    }
    // One full backup: a single Raft copy's worth of TiKV data (the disks hold three).
    add(cloud, "backup bucket (GB)", c.data.tidb.storageGb, fixed.objectStorage);
    // AWS: one Site-to-Site connection per address of Alibaba Cloud's dual-tunnel gateway; Alibaba Cloud: the gateway.
    if (spec.multicloud !== undefined) add(cloud, "IPSec VPN", cloud === "aws" ? 2 : 1, fixed.vpn);
  }
  return {
    lines,
    monthlyCostUsd: cents(lines.reduce((n, l) => n + l.monthlyUsd, 0)),
    unpriced,
    unchecked: [...unchecked],
  };
}

function cents(usd: number): number {
  return Math.round(usd * 100) / 100;
}
