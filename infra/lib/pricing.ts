/**
 * The price table behind `monthlyCostUsd` (infra/lib/cost.ts): on-demand / pay-as-you-go list prices in USD, one
 * reference region per cloud (AWS us-east-1, Alibaba Cloud cn-hangzhou on the international site). Prices change
 * and differ by region; each entry names where it comes from and whether it was checked against that page when the
 * table was written (`checked: true`) or is an estimate still to be confirmed with the vendor's calculator.
 * docs/pricing.md explains the model and what it leaves out. Pure data: no I/O.
 */
import type { CloudName } from "./regions.ts";

export interface Price {
  readonly usd: number;
  readonly per: "hour" | "GB-month";
  /** The vendor page the figure comes from. */
  readonly source: string;
  /** True when the figure was read from `source`; false for an estimate that must be confirmed before budgeting. */
  readonly checked: boolean;
}

export interface InstanceShape {
  readonly vcpu: number;
  readonly memoryGiB: number;
}

const AWS_EC2 = "https://aws.amazon.com/ec2/pricing/on-demand/ (us-east-1, Linux)";
const ALI_ECS = "https://www.alibabacloud.com/product/ecs/pricing (cn-hangzhou, pay-as-you-go)";

/** Compute per instance-hour, with the shape the sizing code uses. */
export const INSTANCES: Readonly<Record<CloudName, Readonly<Record<string, Price & InstanceShape>>>> = {
  aws: {
    "m6i.large": { usd: 0.096, per: "hour", source: AWS_EC2, checked: false, vcpu: 2, memoryGiB: 8 },
    "m6i.xlarge": { usd: 0.192, per: "hour", source: AWS_EC2, checked: false, vcpu: 4, memoryGiB: 16 },
    "m6i.2xlarge": { usd: 0.384, per: "hour", source: AWS_EC2, checked: false, vcpu: 8, memoryGiB: 32 },
    "r6i.xlarge": { usd: 0.252, per: "hour", source: AWS_EC2, checked: false, vcpu: 4, memoryGiB: 32 },
    "r6i.2xlarge": { usd: 0.504, per: "hour", source: AWS_EC2, checked: false, vcpu: 8, memoryGiB: 64 },
  },
  alicloud: {
    "ecs.g7.large": { usd: 0.1, per: "hour", source: ALI_ECS, checked: false, vcpu: 2, memoryGiB: 8 },
    "ecs.g7.xlarge": { usd: 0.2, per: "hour", source: ALI_ECS, checked: false, vcpu: 4, memoryGiB: 16 },
    "ecs.g7.2xlarge": { usd: 0.4, per: "hour", source: ALI_ECS, checked: false, vcpu: 8, memoryGiB: 32 },
    "ecs.r7.xlarge": { usd: 0.26, per: "hour", source: ALI_ECS, checked: false, vcpu: 4, memoryGiB: 32 },
    "ecs.r7.2xlarge": { usd: 0.52, per: "hour", source: ALI_ECS, checked: false, vcpu: 8, memoryGiB: 64 },
  },
};

/** Managed Redis per node-hour (AWS: each primary and replica is a node) or per shard-hour (Tair: replica included). */
export const REDIS_NODES: Readonly<Record<CloudName, Readonly<Record<string, Price>>>> = {
  aws: {
    "cache.r6g.large": {
      usd: 0.206,
      per: "hour",
      source: "https://aws.amazon.com/elasticache/pricing/ (us-east-1, on-demand nodes)",
      checked: false,
    },
    "cache.r6g.xlarge": {
      usd: 0.411,
      per: "hour",
      source: "https://aws.amazon.com/elasticache/pricing/ (us-east-1, on-demand nodes)",
      checked: false,
    },
  },
  alicloud: {
    "redis.shard.small.ce": {
      usd: 0.09,
      per: "hour",
      source: "https://www.alibabacloud.com/product/apsaradb-for-redis/pricing (cluster, cloud disk)",
      checked: false,
    },
  },
};

/** Managed Kafka per broker-hour. */
export const KAFKA_BROKERS: Readonly<Record<CloudName, Readonly<Record<string, Price>>>> = {
  aws: {
    "kafka.m5.large": {
      usd: 0.21,
      per: "hour",
      source: "https://aws.amazon.com/msk/pricing/ (us-east-1, provisioned brokers)",
      checked: false,
    },
    "kafka.m5.xlarge": {
      usd: 0.42,
      per: "hour",
      source: "https://aws.amazon.com/msk/pricing/ (us-east-1, provisioned brokers)",
      checked: false,
    },
  },
  alicloud: {
    // ApsaraMQ for Kafka is priced per instance by traffic specification; spread over the brokers here.
    "alikafka.hw.2xlarge": {
      usd: 0.35,
      per: "hour",
      source: "https://www.alibabacloud.com/product/apsaramq-for-kafka/pricing (professional, pay-as-you-go)",
      checked: false,
    },
  },
};

/** Everything priced per cluster, gateway, connection or GB. */
export const FIXED: Readonly<Record<CloudName, Readonly<Record<FixedItem, Price>>>> = {
  aws: {
    controlPlane: {
      usd: 0.1,
      per: "hour",
      source: "https://aws.amazon.com/eks/pricing/ (standard support)",
      checked: false,
    },
    natGateway: {
      usd: 0.045,
      per: "hour",
      source: "https://aws.amazon.com/vpc/pricing/ (NAT gateway, us-east-1; data processing not included)",
      checked: false,
    },
    loadBalancer: {
      usd: 0.0225,
      per: "hour",
      source: "https://aws.amazon.com/elasticloadbalancing/pricing/ (NLB hour; LCUs not included)",
      checked: false,
    },
    blockStorage: { usd: 0.08, per: "GB-month", source: "https://aws.amazon.com/ebs/pricing/ (gp3)", checked: false },
    kafkaStorage: {
      usd: 0.1,
      per: "GB-month",
      source: "https://aws.amazon.com/msk/pricing/ (broker storage)",
      checked: false,
    },
    objectStorage: {
      usd: 0.023,
      per: "GB-month",
      source: "https://aws.amazon.com/s3/pricing/ (S3 Standard, first 50 TB)",
      checked: false,
    },
    vpn: {
      usd: 0.05,
      per: "hour",
      source: "https://aws.amazon.com/vpn/pricing/ (Site-to-Site VPN connection)",
      checked: false,
    },
    // A transit gateway would bill each of the two attachments by the hour (and processing per GB); peering has no
    // hourly charge, only data transfer, which this model leaves out with all traffic.
    vpcPeering: {
      usd: 0,
      per: "hour",
      source:
        "https://aws.amazon.com/vpc/pricing/ (VPC peering: no hourly charge; data transfer between zones billed per GB, not included)",
      checked: false,
    },
  },
  alicloud: {
    controlPlane: {
      usd: 0.09,
      per: "hour",
      source:
        "https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/product-overview/ack-pro-cluster-billing (ACK Pro cluster management fee)",
      checked: true,
    },
    natGateway: {
      usd: 0.034,
      per: "hour",
      source:
        "https://www.alibabacloud.com/help/en/nat-gateway/latest/billing-of-internet-nat-gateways (instance fee, China (Hangzhou); CU fees not included)",
      checked: true,
    },
    loadBalancer: {
      usd: 0.03,
      per: "hour",
      source: "https://www.alibabacloud.com/product/network-load-balancer/pricing (instance fee; LCUs not included)",
      checked: false,
    },
    blockStorage: {
      usd: 0.14,
      per: "GB-month",
      source: "https://www.alibabacloud.com/product/disk/pricing (ESSD PL1)",
      checked: false,
    },
    kafkaStorage: {
      usd: 0.14,
      per: "GB-month",
      source: "https://www.alibabacloud.com/product/apsaramq-for-kafka/pricing (disk)",
      checked: false,
    },
    objectStorage: {
      usd: 0.017,
      per: "GB-month",
      source: "https://www.alibabacloud.com/product/oss/pricing (Standard LRS)",
      checked: false,
    },
    vpn: {
      usd: 0.09,
      per: "hour",
      source: "https://www.alibabacloud.com/product/vpn-gateway/pricing (100 Mbit/s, pay-as-you-go)",
      checked: false,
    },
    vpcPeering: {
      usd: 0,
      per: "hour",
      source:
        "https://www.alibabacloud.com/help/en/vpc/vpc-peering-connection-billing (intra-region VPC peering: free of charge)",
      checked: false,
    },
  },
};

export type FixedItem =
  | "controlPlane"
  | "natGateway"
  | "loadBalancer"
  | "blockStorage"
  | "kafkaStorage"
  | "objectStorage"
  | "vpn"
  | "vpcPeering";

/** Hours in the average month (8,760 / 12), the convention both vendors' calculators use. */
export const HOURS_PER_MONTH = 730;

/** A bandwidth price: per Mbit/s of fixed capacity per month, or per GB transferred. */
export interface BandwidthPrice {
  readonly usd: number;
  readonly per: "Mbps-month" | "GB";
  readonly source: string;
  readonly checked: boolean;
}

export type BandwidthItem = "internetEgress" | "fixedBandwidth" | "cdn";

/**
 * What `imctl bandwidth plan` prices its options with (the traffic the stack cost leaves out). `fixedBandwidth` is
 * the Mbit/s bought on an EIP or load balancer billed by bandwidth; AWS sells no such cap (its NLB and Elastic IPs
 * carry what comes and bill per GB), so it has no entry and the plan says so instead of pricing it at 0.
 */
export const BANDWIDTH: Readonly<Record<CloudName, Readonly<Partial<Record<BandwidthItem, BandwidthPrice>>>>> = {
  aws: {
    internetEgress: {
      usd: 0.09,
      per: "GB",
      source:
        "https://aws.amazon.com/ec2/pricing/on-demand/ (Data Transfer OUT to the internet, us-east-1, first 10 TB/month)",
      checked: false,
    },
    cdn: {
      usd: 0.085,
      per: "GB",
      source: "https://aws.amazon.com/cloudfront/pricing/ (North America, first 10 TB/month)",
      checked: false,
    },
  },
  alicloud: {
    internetEgress: {
      usd: 0.125,
      per: "GB",
      source: "https://www.alibabacloud.com/product/eip/pricing (pay-by-data-transfer, China (Hangzhou))",
      checked: false,
    },
    fixedBandwidth: {
      usd: 11.5,
      per: "Mbps-month",
      source: "https://www.alibabacloud.com/product/eip/pricing (pay-by-bandwidth above 5 Mbit/s, China (Hangzhou))",
      checked: false,
    },
    cdn: {
      usd: 0.04,
      per: "GB",
      source:
        "https://www.alibabacloud.com/product/cdn/pricing (Chinese mainland, pay-by-data-transfer, first 10 TB/month)",
      checked: false,
    },
  },
};
