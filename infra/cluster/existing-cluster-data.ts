/**
 * The data tier of an existing cluster's stack (infra/cluster/existing-cluster.ts), by `cluster.data.mode`:
 * - external: Redis Cluster, Kafka and the database outside the cluster, reached at the stack's addresses; their
 *   credentials are their owner's;
 * - in-cluster: namespace im-data with the program's Redis Cluster StatefulSet, Kafka through the preinstalled Strimzi
 *   and TiDB through the preinstalled TiDB Operator. As on the clouds, every client authenticates: Redis with
 *   `requirepass` (and `masterauth`), Strimzi with SCRAM-SHA-512 on both listeners, the simple authorizer and a
 *   KafkaUser `im-services` with the services' ACLs, all derived from the stack's seed (data-credentials.ts) and kept
 *   as Pulumi secrets. The services read them from the Secret `im-data-auth` in their namespace (ImServices), the
 *   brokers' KafkaUser and the Redis nodes from the Secret of the same name in im-data.
 */
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import {
  DATA_AUTH_SECRET,
  dataCredentials,
  KAFKA_PASSWORD_KEY,
  KAFKA_USERNAME_KEY,
  REDIS_PASSWORD_KEY,
} from "../data/data-credentials.ts";
import { DATA_NAMESPACE } from "../data/data-tier.ts";
import { KafkaCluster } from "../data/kafka-cluster.ts";
import type { DataPlacement } from "../data/placement.ts";
import { RedisCluster } from "../data/redis-cluster.ts";
import { TidbCluster } from "../data/tidb-cluster.ts";
import { OPERATOR_NAMESPACE_LABELS } from "../lib/pod-security.ts";
import { TAG_LABEL_PREFIX, type ExternalData, type InClusterData } from "../lib/spec-cluster.ts";
import type { ExistingClusterPlatformSpec } from "../lib/spec.ts";
import type { DataEndpoints } from "../services/im-services.ts";
import { secretData } from "./secret-data.ts";

/** The Secret (key `password`) the migrations Job reads the database admin's password from. */
export const DATABASE_ADMIN_SECRET = "im-database-admin";

/** What the services, the migrations Job and monitoring need of the data tier, wherever it is. */
export interface ClusterData {
  endpoints: DataEndpoints & { databasePort: number };
  /** Where the migrations Job runs: the namespace of the admin's Secret. */
  schemaNamespace: pulumi.Input<string>;
  rootSecret: { name: string; key: string };
  rootUser: string;
  /** What the migrations Job waits for. */
  ready: pulumi.Resource[];
  /** The in-cluster data tier's namespace; undefined when the data tier is external. */
  namespace: pulumi.Output<string> | undefined;
  /** namespace/name of the Secrets created here besides TiDB's (the outputs list them). */
  secrets: string[];
}

/** Redis Cluster, Kafka and the database outside the cluster: their addresses, and the admin's password as a Secret. */
export function externalData(
  d: ExternalData,
  namespace: pulumi.Output<string>,
  adminPassword: pulumi.Input<string>,
  on: { provider: k8s.Provider },
): ClusterData {
  const adminSecret = new k8s.core.v1.Secret(
    "cluster-database-admin",
    {
      metadata: { name: DATABASE_ADMIN_SECRET, namespace },
      type: "Opaque",
      data: secretData({ password: adminPassword }),
    },
    on,
  );
  return {
    endpoints: {
      databaseHost: d.database.host,
      databasePort: d.database.port,
      redisNodes: d.redisNodes.join(","),
      kafkaBrokers: d.kafkaBrokers.join(","),
      tls: { database: false, redis: false, kafka: false },
    },
    schemaNamespace: namespace,
    rootSecret: { name: DATABASE_ADMIN_SECRET, key: "password" },
    rootUser: d.database.adminUser,
    ready: [adminSecret],
    namespace: undefined,
    secrets: [],
  };
}

/**
 * The data tier in the cluster, in namespace im-data: the Redis Cluster StatefulSet, Kafka through the preinstalled
 * Strimzi and TiDB through the preinstalled TiDB Operator, at the stack's sizes, on the data nodes the stack selects.
 * TiDB's root password, the Redis password and the services' Kafka user derive from the seed like every other
 * generated secret.
 */
export function inClusterData(
  spec: ExistingClusterPlatformSpec,
  d: InClusterData,
  seed: pulumi.Input<string>,
  tidbRootPassword: pulumi.Input<string>,
  on: { provider: k8s.Provider },
): ClusterData {
  const c = spec.cluster;
  const placement: DataPlacement = {
    nodeSelector: d.nodeSelector ?? c.nodeSelector,
    tolerations: d.tolerations ?? c.tolerations,
    storageClass: d.storageClass,
  };
  const tagLabels = Object.fromEntries(Object.entries(spec.tags).map(([key, v]) => [`${TAG_LABEL_PREFIX}${key}`, v]));
  const dataNs = new k8s.core.v1.Namespace(
    "cluster-data-namespace",
    {
      metadata: {
        name: DATA_NAMESPACE,
        labels: { ...OPERATOR_NAMESPACE_LABELS, ...tagLabels, "app.kubernetes.io/part-of": "im-platform" },
      },
    },
    on,
  );
  const namespace = dataNs.metadata.name;
  const opts = { providers: [on.provider] };
  const creds = dataCredentials(seed);
  // The Redis nodes read their requirepass, and Strimzi's user operator the KafkaUser's password, from this Secret.
  const authSecret = new k8s.core.v1.Secret(
    "cluster-data-auth",
    {
      metadata: { name: DATA_AUTH_SECRET, namespace },
      type: "Opaque",
      data: secretData({
        [REDIS_PASSWORD_KEY]: creds.redisPassword,
        [KAFKA_USERNAME_KEY]: creds.kafka.username,
        [KAFKA_PASSWORD_KEY]: creds.kafka.password,
      }),
    },
    on,
  );
  const tidb = new TidbCluster(
    "cluster-tidb",
    {
      namespace,
      replicas: { pd: d.tidb.pd, tikv: d.tidb.tikv, tidb: d.tidb.tidb },
      storageGb: d.tidb.storageGb,
      backup:
        d.backup === undefined
          ? undefined
          : {
              provider: "s3-compatible",
              bucket: d.backup.bucket,
              region: d.backup.region,
              endpoint: d.backup.endpoint,
              credentialsSecret: d.backup.credentialsSecret,
              retentionDays: d.backup.retentionDays,
            },
      operator: "preinstalled",
      data: placement,
      rootPassword: tidbRootPassword,
      provider: on.provider,
    },
    opts,
  );
  const redis = new RedisCluster(
    "cluster-redis",
    {
      ...spec.data.redis,
      placement: { kind: "in-cluster", namespace, provider: on.provider, storageGb: d.redisStorageGb, data: placement },
      tags: spec.tags,
      auth: { password: creds.redisPassword, secret: { name: authSecret.metadata.name, key: REDIS_PASSWORD_KEY } },
    },
    opts,
  );
  const kafka = new KafkaCluster(
    "cluster-kafka",
    {
      ...spec.data.kafka,
      storageGb: d.kafkaStorageGb,
      placement: {
        kind: "strimzi",
        namespace,
        provider: on.provider,
        operator: "preinstalled",
        data: placement,
        // The JMX exporter's ConfigMap comes with Monitoring, which needs the Prometheus Operator.
        metrics: c.preinstalled.includes("prometheus-operator"),
      },
      tags: spec.tags,
      auth: { ...creds.kafka, secret: { name: authSecret.metadata.name, key: KAFKA_PASSWORD_KEY } },
    },
    opts,
  );
  return {
    endpoints: {
      databaseHost: tidb.host,
      databasePort: tidb.port,
      redisNodes: redis.nodes,
      kafkaBrokers: kafka.bootstrapBrokers,
      // Inside the cluster network, as Strimzi's plain listener and in-cluster Redis are on the clouds.
      tls: { database: false, redis: false, kafka: false },
      auth: {
        redisPassword: creds.redisPassword,
        kafka: kafka.saslMechanism === undefined ? undefined : { mechanism: kafka.saslMechanism, ...creds.kafka },
      },
    },
    schemaNamespace: namespace,
    rootSecret: tidb.rootSecret,
    rootUser: "root",
    ready: [tidb],
    namespace,
    secrets: [`${DATA_NAMESPACE}/${DATA_AUTH_SECRET}`, `${spec.kubernetes.namespace}/${DATA_AUTH_SECRET}`],
  };
}
