/**
 * The data tier of one cloud: its namespace, the backup bucket, TiDB, the Redis Cluster and Kafka, each placed
 * as the stack file chooses (managed service or in-cluster), all in the data subnets behind the data security
 * group. Its `endpoints` are what the services' environment points at.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { secretData } from "../cluster/secret-data.ts";
import { WorkloadRole, type PolicyStatement, type WorkloadIdentity } from "../cluster/workload-role.ts";
import type { CloudSpec } from "../lib/spec-cloud.ts";
import type { DataEndpoints } from "../services/im-services.ts";
import { BackupBucket } from "./backup-bucket.ts";
import {
  DATA_AUTH_SECRET,
  KAFKA_PASSWORD_KEY,
  KAFKA_USERNAME_KEY,
  REDIS_PASSWORD_KEY,
  type DataCredentials,
} from "./data-credentials.ts";
import { DataNetworkPolicies } from "./data-network-policies.ts";
import { KafkaCluster, type KafkaPlacement, type KafkaTopicSpec } from "./kafka-cluster.ts";
import { OssBackupUser } from "./oss-backup-user.ts";
import { CLOUD_DATA_PLACEMENT } from "./placement.ts";
import { RedisCluster, type RedisPlacement } from "./redis-cluster.ts";
import { TIDB_CLUSTER_NAME, TidbCluster } from "./tidb-cluster.ts";
import { TIDB_CA_ISSUER, TidbTls } from "./tidb-tls.ts";

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
  /** How the cluster's service accounts assume cloud roles (the backup account writes the bucket with it). */
  identity: WorkloadIdentity;
  /** cert-manager in the cluster: TiDB then speaks TLS between its components and to its SQL clients. */
  certManager?: { namespace: string; release: pulumi.Resource } | undefined;
  /** The Redis password and the services' Kafka user (data-credentials.ts): every client must present them. */
  credentials: DataCredentials;
  /** The services' namespace: with the monitoring and TiDB Operator namespaces, the only one let into the data pods. */
  servicesNamespace: string;
  provider: k8s.Provider;
  tags: Record<string, string>;
}

/** Namespace of everything in-cluster in the data tier. */
export const DATA_NAMESPACE = "im-data";
/**
 * The Secret (in the services' namespace) with the CA certificate of Alibaba Cloud's Tair, which the operator copies
 * from the Tair console before the first `up`: the services verify Tair's TLS certificate against it.
 */
export const DATA_CA_SECRET = "im-data-ca";
export const TAIR_CA_KEY = "tair-ca.pem";
/** The service account BR backups and TiKV run as; on AWS its IRSA role is the only way into the backup bucket. */
export const BACKUP_SERVICE_ACCOUNT = "tidb-backup";

export class DataTier extends pulumi.ComponentResource {
  readonly endpoints: DataEndpoints;
  readonly backupBucket: pulumi.Output<string>;
  readonly tidb: TidbCluster;
  /** TiDB's certificates, when cert-manager is there. */
  readonly tidbTls: TidbTls | undefined;

  constructor(name: string, args: DataTierArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:data:DataTier", name, {}, opts);
    const labels: Record<string, string> = { "app.kubernetes.io/part-of": "im-platform" };
    const ns = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      { metadata: { name: DATA_NAMESPACE, labels } },
      { parent: this, provider: args.provider },
    );
    const c = args.choices;
    const creds = args.credentials;
    // In-cluster Redis reads its requirepass, and Strimzi's KafkaUser its password, from this Secret.
    const authSecret = new k8s.core.v1.Secret(
      `${name}-auth`,
      {
        metadata: { name: DATA_AUTH_SECRET, namespace: ns.metadata.name },
        type: "Opaque",
        data: secretData({
          [REDIS_PASSWORD_KEY]: creds.redisPassword,
          [KAFKA_USERNAME_KEY]: creds.kafka.username,
          [KAFKA_PASSWORD_KEY]: creds.kafka.password,
        }),
      },
      { parent: this, provider: args.provider },
    );
    new DataNetworkPolicies(
      `${name}-isolation`,
      { namespace: DATA_NAMESPACE, servicesNamespace: args.servicesNamespace, provider: args.provider },
      { parent: this, dependsOn: [ns] },
    );
    const bucket = new BackupBucket(
      `${name}-backup`,
      { cloud: args.cloud, bucket: c.backup.bucket, retentionDays: c.backup.retentionDays, tags: args.tags },
      { parent: this },
    );
    const statements = bucketStatements(args.cloud, bucket.bucketName, bucket.kmsKeyId);
    // S3: BR and TiKV assume an IRSA role through the backup service account. OSS: BR signs with a RAM user's keys
    // and forwards them to TiKV, since BR reads no RRSA token (oss-backup-user.ts).
    const backupRole =
      args.cloud === "aws"
        ? new WorkloadRole(
            `${name}-backup-role`,
            {
              identity: args.identity,
              namespace: DATA_NAMESPACE,
              serviceAccount: BACKUP_SERVICE_ACCOUNT,
              statements,
              tags: args.tags,
            },
            { parent: this },
          )
        : undefined;
    const ossUser =
      args.cloud === "alicloud"
        ? new OssBackupUser(
            `${name}-backup-user`,
            { namespace: ns.metadata.name, statements, provider: args.provider },
            { parent: this },
          )
        : undefined;
    const backupAccount = new k8s.core.v1.ServiceAccount(
      `${name}-backup-account`,
      {
        metadata: {
          name: BACKUP_SERVICE_ACCOUNT,
          namespace: ns.metadata.name,
          ...(backupRole === undefined ? {} : { annotations: backupRole.annotations }),
        },
      },
      { parent: this, provider: args.provider },
    );
    const tidbTls =
      args.certManager === undefined
        ? undefined
        : new TidbTls(
            `${name}-tidb-tls`,
            {
              namespace: DATA_NAMESPACE,
              cluster: TIDB_CLUSTER_NAME,
              certManagerNamespace: args.certManager.namespace,
              provider: args.provider,
            },
            { parent: this, dependsOn: [args.certManager.release, ns] },
          );
    const tidb = new TidbCluster(
      `${name}-tidb`,
      {
        namespace: ns.metadata.name,
        replicas: { pd: c.tidb.pd, tikv: c.tidb.tikv, tidb: c.tidb.tidb },
        storageGb: c.tidb.storageGb,
        backup: {
          bucket: bucket.bucketName,
          region: args.region,
          retentionDays: c.backup.retentionDays,
          ...(ossUser === undefined
            ? { provider: "s3" as const, serviceAccount: backupAccount.metadata.name }
            : { provider: "oss" as const, credentialsSecret: ossUser.secretName }),
        },
        tls: tidbTls === undefined ? undefined : { clientSecretName: tidbTls.clientSecretName, ready: tidbTls.ready },
        operator: "install",
        data: CLOUD_DATA_PLACEMENT,
        provider: args.provider,
      },
      { parent: this },
    );
    const net = args.network;
    const [zone1 = "", zone2 = ""] = args.zones;
    const redisPlacement: RedisPlacement =
      c.redis.mode === "in-cluster"
        ? {
            kind: "in-cluster",
            namespace: ns.metadata.name,
            provider: args.provider,
            storageGb: 20,
            data: CLOUD_DATA_PLACEMENT,
          }
        : args.cloud === "aws"
          ? {
              kind: "elasticache",
              nodeType: c.redis.nodeType,
              subnetIds: net.dataSubnetIds,
              securityGroupId: net.dataSecurityGroupId,
            }
          : {
              kind: "tair",
              instanceClass: c.redis.nodeType,
              vswitchId: net.dataSubnetIds[0] ?? "",
              zoneId: zone1,
              secondaryZoneId: zone2,
              appCidr: net.appCidr,
              securityGroupId: net.dataSecurityGroupId,
            };
    const redis = new RedisCluster(
      `${name}-redis`,
      {
        ...args.redis,
        placement: redisPlacement,
        tags: args.tags,
        auth: { password: creds.redisPassword, secret: { name: authSecret.metadata.name, key: REDIS_PASSWORD_KEY } },
      },
      { parent: this },
    );
    const kafkaPlacement: KafkaPlacement =
      c.kafka.mode === "strimzi"
        ? {
            kind: "strimzi",
            namespace: ns.metadata.name,
            provider: args.provider,
            operator: "install",
            data: CLOUD_DATA_PLACEMENT,
            // The clouds always run Monitoring, which creates the JMX exporter's ConfigMap for Strimzi.
            metrics: true,
          }
        : args.cloud === "aws"
          ? {
              kind: "msk",
              brokerType: c.kafka.brokerType,
              subnetIds: net.dataSubnetIds,
              securityGroupId: net.dataSecurityGroupId,
            }
          : {
              kind: "alikafka",
              ioMaxSpec: c.kafka.brokerType,
              vpcId: net.vpcId,
              vswitchIds: net.dataSubnetIds,
              zoneIds: [...args.zones],
              securityGroupId: net.dataSecurityGroupId,
            };
    const kafka = new KafkaCluster(
      `${name}-kafka`,
      {
        ...args.kafka,
        storageGb: c.kafka.storageGb,
        placement: kafkaPlacement,
        tags: args.tags,
        auth: { ...creds.kafka, secret: { name: authSecret.metadata.name, key: KAFKA_PASSWORD_KEY } },
      },
      { parent: this },
    );

    const managedRedis = c.redis.mode === "managed";
    this.endpoints = {
      databaseHost: tidb.host,
      databasePort: tidb.port,
      redisNodes: redis.nodes,
      kafkaBrokers: kafka.bootstrapBrokers,
      // ElastiCache and Tair encrypt in transit; MSK's bootstrap list is its TLS listener; TiDB does with cert-manager.
      // ApsaraMQ's VPC endpoint and in-cluster Redis and Strimzi speak plaintext inside the VPC. Tair's certificate
      // chains to Alibaba Cloud's own CA, TiDB's to the platform's (TIDB_CA_ISSUER).
      tls: {
        database: tidbTls !== undefined,
        databaseCa: tidbTls === undefined ? undefined : { issuer: TIDB_CA_ISSUER },
        redis: managedRedis,
        kafka: kafkaPlacement.kind === "msk",
        redisCa:
          managedRedis && args.cloud === "alicloud" ? { secretName: DATA_CA_SECRET, key: TAIR_CA_KEY } : undefined,
      },
      auth: {
        redisPassword: creds.redisPassword,
        kafka: kafka.saslMechanism === undefined ? undefined : { mechanism: kafka.saslMechanism, ...creds.kafka },
      },
    };
    this.backupBucket = bucket.bucketName;
    this.tidb = tidb;
    this.tidbTls = tidbTls;
    this.registerOutputs({
      databaseHost: tidb.host,
      redisNodes: redis.nodes,
      kafkaBrokers: kafka.bootstrapBrokers,
      backupBucket: this.backupBucket,
    });
  }
}

/** What BR needs on the backup bucket: list it, and write, read and expire its objects (multipart uploads included). */
export function bucketStatements(
  cloud: "aws" | "alicloud",
  bucket: pulumi.Output<string>,
  kmsKeyId?: pulumi.Output<string>,
): PolicyStatement[] {
  if (cloud === "aws") {
    return [
      {
        Effect: "Allow",
        Action: ["s3:ListBucket", "s3:GetBucketLocation"],
        Resource: [pulumi.interpolate`arn:aws:s3:::${bucket}`],
      },
      {
        Effect: "Allow",
        Action: [
          "s3:PutObject",
          "s3:GetObject",
          "s3:DeleteObject",
          "s3:AbortMultipartUpload",
          "s3:ListMultipartUploadParts",
        ],
        Resource: [pulumi.interpolate`arn:aws:s3:::${bucket}/*`],
      },
    ];
  }
  return [
    {
      Effect: "Allow",
      Action: ["oss:ListObjects", "oss:GetBucketInfo"],
      Resource: [pulumi.interpolate`acs:oss:*:*:${bucket}`],
    },
    {
      Effect: "Allow",
      Action: ["oss:PutObject", "oss:GetObject", "oss:DeleteObject", "oss:AbortMultipartUpload", "oss:ListParts"],
      Resource: [pulumi.interpolate`acs:oss:*:*:${bucket}/*`],
    },
    // The bucket encrypts with its own KMS key (BackupBucket): writing and reading objects needs that key's data keys.
    {
      Effect: "Allow",
      Action: ["kms:GenerateDataKey", "kms:Decrypt"],
      Resource: [kmsKeyId === undefined ? "acs:kms:*:*:*" : pulumi.interpolate`acs:kms:*:*:key/${kmsKeyId}`],
    },
  ];
}
