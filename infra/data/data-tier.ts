/**
 * The data tier of one cloud: its namespace, the backup bucket, TiDB, the Redis Cluster and Kafka, each placed
 * as the stack file chooses (managed service or in-cluster), all in the data subnets behind the data security
 * group. Its `endpoints` are what the services' environment points at.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { CloudSpec } from "../lib/spec-cloud.ts";
import type { DataEndpoints } from "../services/im-services.ts";
import { BackupBucket } from "./backup-bucket.ts";
import { KafkaCluster, type KafkaPlacement, type KafkaTopicSpec } from "./kafka-cluster.ts";
import { RedisCluster, type RedisPlacement } from "./redis-cluster.ts";
import { TidbCluster } from "./tidb-cluster.ts";

export interface DataTierArgs {
  cloud: "aws" | "alicloud";
  region: string;
  zones: readonly string[];
  choices: CloudSpec["data"];
  redis: { primaries: number; replicasPerPrimary: number };
  kafka: { brokers: number; replicationFactor: number; minInsyncReplicas: number; topics: readonly KafkaTopicSpec[] };
  network: {
    vpcId: pulumi.Input<string>;
    appCidr: string;
    dataSubnetIds: pulumi.Input<string>[];
    dataSecurityGroupId: pulumi.Input<string>;
  };
  provider: k8s.Provider;
  tags: Record<string, string>;
}

/** Namespace of everything in-cluster in the data tier. */
export const DATA_NAMESPACE = "im-data";

export class DataTier extends pulumi.ComponentResource {
  readonly endpoints: DataEndpoints;
  readonly backupBucket: pulumi.Output<string>;

  constructor(name: string, args: DataTierArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:data:DataTier", name, {}, opts);
    const ns = new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: { name: DATA_NAMESPACE, labels: { "app.kubernetes.io/part-of": "im-platform" } } }, { parent: this, provider: args.provider });
    const c = args.choices;
    const bucket = new BackupBucket(`${name}-backup`, { cloud: args.cloud, bucket: c.backup.bucket, retentionDays: c.backup.retentionDays, tags: args.tags }, { parent: this });
    const tidb = new TidbCluster(
      `${name}-tidb`,
      {
        namespace: ns.metadata.name,
        replicas: { pd: c.tidb.pd, tikv: c.tidb.tikv, tidb: c.tidb.tidb },
        storageGb: c.tidb.storageGb,
        backup: { provider: args.cloud === "aws" ? "s3" : "oss", bucket: bucket.bucketName, region: args.region, retentionDays: c.backup.retentionDays },
        provider: args.provider,
      },
      { parent: this },
    );
    const net = args.network;
    const [zone1 = "", zone2 = ""] = args.zones;
    const redisPlacement: RedisPlacement =
      c.redis.mode === "in-cluster"
        ? { kind: "in-cluster", namespace: ns.metadata.name, provider: args.provider, storageGb: 20 }
        : args.cloud === "aws"
          ? { kind: "elasticache", nodeType: c.redis.nodeType, subnetIds: net.dataSubnetIds, securityGroupId: net.dataSecurityGroupId }
          : {
              kind: "tair",
              instanceClass: c.redis.nodeType,
              vswitchId: net.dataSubnetIds[0] ?? "",
              zoneId: zone1,
              secondaryZoneId: zone2,
              appCidr: net.appCidr,
              securityGroupId: net.dataSecurityGroupId,
            };
    const redis = new RedisCluster(`${name}-redis`, { ...args.redis, placement: redisPlacement, tags: args.tags }, { parent: this });
    const kafkaPlacement: KafkaPlacement =
      c.kafka.mode === "strimzi"
        ? { kind: "strimzi", namespace: ns.metadata.name, provider: args.provider }
        : args.cloud === "aws"
          ? { kind: "msk", brokerType: c.kafka.brokerType, subnetIds: net.dataSubnetIds, securityGroupId: net.dataSecurityGroupId }
          : { kind: "alikafka", ioMaxSpec: c.kafka.brokerType, vpcId: net.vpcId, vswitchIds: net.dataSubnetIds, zoneIds: [...args.zones], securityGroupId: net.dataSecurityGroupId };
    const kafka = new KafkaCluster(`${name}-kafka`, { ...args.kafka, storageGb: c.kafka.storageGb, placement: kafkaPlacement, tags: args.tags }, { parent: this });

    this.endpoints = { databaseHost: tidb.host, databasePort: tidb.port, redisNodes: redis.nodes, kafkaBrokers: kafka.bootstrapBrokers };
    this.backupBucket = bucket.bucketName;
    this.registerOutputs({ databaseHost: tidb.host, redisNodes: redis.nodes, kafkaBrokers: kafka.bootstrapBrokers, backupBucket: this.backupBucket });
  }
}
