/**
 * Kafka for the message events: `brokers` brokers over three zones, replication 3 and min.insync.replicas 2 by
 * default so an acks=all write survives a zone. One of, per `clouds.<cloud>.data.kafka.mode`:
 * - MSK (AWS, managed): TLS between clients and brokers and inside the cluster, encrypted disks, no public access;
 * - ApsaraMQ for Kafka (Alibaba Cloud, managed): VPC-only deployment in the data vSwitches;
 * - Strimzi: the operator and a KRaft Kafka with rack awareness on the data nodes.
 * The topics of data.kafka.topics are declared with it (MSK Topic, ApsaraMQ Topic, Strimzi KafkaTopic), each with
 * the cluster's replication factor and min.insync.replicas, so a producer's acks=all means what the seed says.
 * With `auth`, clients authenticate with SASL/SCRAM as one user (the services'): MSK through a Secrets Manager secret
 * (SCRAM-SHA-512 over TLS, port 9096), ApsaraMQ through a SASL user with ACLs on the topics and the consumer group
 * (SCRAM-SHA-256 on the VPC's SASL endpoint, 9094), Strimzi through a KafkaUser with the same ACLs (SCRAM-SHA-512).
 * ApsaraMQ's Topic has no typed replication or min.insync.replicas field: see `ALIKAFKA_TOPIC_GUARANTEES`.
 */
import * as alicloud from "@pulumi/alicloud";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { KAFKA_METRICS_CONFIGMAP, KAFKA_METRICS_KEY } from "../observability/kafka-jmx.ts";
import { alikafkaUser, mskScramSecret, strimziUser } from "./kafka-auth.ts";
import { requiredNodeAffinity, type DataPlacement } from "./placement.ts";

export type KafkaPlacement =
  | { kind: "msk"; brokerType: string; subnetIds: pulumi.Input<string>[]; securityGroupId: pulumi.Input<string> }
  | {
      kind: "alikafka";
      ioMaxSpec: string;
      vpcId: pulumi.Input<string>;
      vswitchIds: pulumi.Input<string>[];
      zoneIds: string[];
      securityGroupId: pulumi.Input<string>;
    }
  | {
      kind: "strimzi";
      namespace: pulumi.Input<string>;
      provider: k8s.Provider;
      /** `install`: the operator's chart (the clouds); `preinstalled`: the cluster runs it already. */
      operator: "install" | "preinstalled";
      /** The data nodes and the volumes' StorageClass. */
      data: DataPlacement;
      /** The JMX exporter's ConfigMap exists (Monitoring creates it): only then do the brokers export metrics. */
      metrics: boolean;
    };

/** A topic the platform needs, from data.kafka.topics; replication and min ISR are the cluster's. */
export interface KafkaTopicSpec {
  name: string;
  partitions: number;
}

export interface KafkaClusterArgs {
  brokers: number;
  replicationFactor: number;
  minInsyncReplicas: number;
  /** Created here, never by a producer (auto.create.topics.enable is off). */
  topics: readonly KafkaTopicSpec[];
  storageGb: number;
  placement: KafkaPlacement;
  tags: Record<string, string>;
  /**
   * The services' SASL user: its name, password and, for Strimzi, the Secret and key (in the data namespace) the
   * KafkaUser takes the password from. Default none: unauthenticated clients (an existing cluster's Strimzi).
   */
  auth?: { username: string; password: pulumi.Input<string>; secret: { name: pulumi.Input<string>; key: string } };
}

/** The SASL mechanism the services use per placement, when `auth` is set. */
export const KAFKA_SASL_MECHANISM = {
  msk: "SCRAM-SHA-512",
  alikafka: "SCRAM-SHA-256",
  strimzi: "SCRAM-SHA-512",
} as const satisfies Record<KafkaPlacement["kind"], string>;

/** Said in the plan and the docs: see infra/lib/managed-limits.ts. */
export { ALIKAFKA_TOPIC_GUARANTEES } from "../lib/managed-limits.ts";

/**
 * MSK's authorizer with no ACLs, written out (it is MSK's default too): every authenticated principal may do anything
 * on a resource without ACLs. That is safe only while exactly one SCRAM user exists, the services' (IAM and mTLS off,
 * unauthenticated off), so the single user is the boundary; policy im-data-tier-auth refuses a second user on such a
 * cluster. Why no ACLs: MSK has no `super.users`, so an admin user must grant itself cluster ACLs through the Kafka
 * admin API while this is still true, and only then may the configuration say false. Pulumi reaches no Kafka admin
 * API; a Job in the cluster could, but the MSK cluster would have to wait for a Job that needs its brokers (a cycle),
 * or take two `up`s with a manual step between. What a stolen password adds beyond reading and writing every message
 * (which the ACLs would still grant): deleting topics or altering their configs. docs/cloud-stacks.md says so.
 */
export const MSK_ACL_PROPERTIES = { "allow.everyone.if.no.acl.found": "true" } as const;

/** Pinned versions: a replaced broker must come back on the same Kafka. */
export const KAFKA_VERSION = "3.8.x";
export const STRIMZI_CHART_VERSION = "0.45.0";

export class KafkaCluster extends pulumi.ComponentResource {
  /** Comma-separated bootstrap brokers (host:port) for the services' KAFKA_BROKERS. */
  readonly bootstrapBrokers: pulumi.Output<string>;
  /** The SASL mechanism clients use, or undefined without `auth`. */
  readonly saslMechanism: (typeof KAFKA_SASL_MECHANISM)[KafkaPlacement["kind"]] | undefined;

  constructor(name: string, args: KafkaClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:data:KafkaCluster", name, {}, opts);
    const p = args.placement;
    this.saslMechanism = args.auth === undefined ? undefined : KAFKA_SASL_MECHANISM[p.kind];
    switch (p.kind) {
      case "msk":
        this.bootstrapBrokers = this.msk(name, args, p);
        break;
      case "alikafka":
        this.bootstrapBrokers = this.alikafka(name, args, p);
        break;
      case "strimzi":
        this.bootstrapBrokers = this.strimzi(name, args, p);
        break;
    }
    this.registerOutputs({ bootstrapBrokers: this.bootstrapBrokers });
  }

  private serverProperties(args: KafkaClusterArgs): Record<string, string> {
    return {
      "default.replication.factor": String(args.replicationFactor),
      "min.insync.replicas": String(args.minInsyncReplicas),
      // Topics are created deliberately with their partition counts, never by a typo in a producer.
      "auto.create.topics.enable": "false",
      "unclean.leader.election.enable": "false",
    };
  }

  private msk(
    name: string,
    args: KafkaClusterArgs,
    p: Extract<KafkaPlacement, { kind: "msk" }>,
  ): pulumi.Output<string> {
    const props = Object.entries({ ...this.serverProperties(args), ...MSK_ACL_PROPERTIES })
      .map(([k, v]) => `${k}=${v}`)
      .join("\n");
    const config = new aws.msk.Configuration(
      `${name}-config`,
      { kafkaVersions: [KAFKA_VERSION], serverProperties: props },
      { parent: this },
    );
    const cluster = new aws.msk.Cluster(
      name,
      {
        kafkaVersion: KAFKA_VERSION,
        numberOfBrokerNodes: args.brokers,
        brokerNodeGroupInfo: {
          instanceType: p.brokerType,
          clientSubnets: p.subnetIds,
          securityGroups: [p.securityGroupId],
          storageInfo: { ebsStorageInfo: { volumeSize: args.storageGb } },
          connectivityInfo: { publicAccess: { type: "DISABLED" } },
        },
        encryptionInfo: { encryptionInTransit: { clientBroker: "TLS", inCluster: true } },
        ...(args.auth === undefined
          ? {}
          : { clientAuthentication: { sasl: { scram: true, iam: false }, unauthenticated: false } }),
        configurationInfo: { arn: config.arn, revision: config.latestRevision },
        tags: args.tags,
      },
      { parent: this },
    );
    for (const t of args.topics) {
      new aws.msk.Topic(
        `${name}-topic-${t.name}`,
        {
          clusterArn: cluster.arn,
          name: t.name,
          partitionCount: t.partitions,
          replicationFactor: args.replicationFactor,
          configs: JSON.stringify(this.topicConfig(args)),
        },
        { parent: this },
      );
    }
    if (args.auth === undefined) return cluster.bootstrapBrokersTls;
    mskScramSecret(name, args, args.auth, cluster, this);
    return cluster.bootstrapBrokersSaslScram;
  }

  /** Per topic, so a topic keeps its guarantees even if the cluster's defaults change. */
  private topicConfig(args: KafkaClusterArgs): Record<string, string> {
    return {
      "min.insync.replicas": String(args.minInsyncReplicas),
      "cleanup.policy": "delete",
      "unclean.leader.election.enable": "false",
    };
  }

  private alikafka(
    name: string,
    args: KafkaClusterArgs,
    p: Extract<KafkaPlacement, { kind: "alikafka" }>,
  ): pulumi.Output<string> {
    const instance = new alicloud.alikafka.Instance(
      name,
      {
        name,
        // 5: reachable from the VPC only (4 would add a public endpoint).
        deployType: 5,
        specType: "professional",
        ioMaxSpec: p.ioMaxSpec,
        diskType: 1,
        diskSize: args.storageGb * args.brokers,
        partitionNum: 50,
        vpcId: p.vpcId,
        vswitchIds: p.vswitchIds,
        selectedZones: p.zoneIds,
        securityGroup: p.securityGroupId,
        // With ACLs on, the VPC's SASL endpoint takes only SASL users, each limited to what its ACLs grant.
        config: JSON.stringify({
          "enable.acl": args.auth === undefined ? "false" : "true",
          "kafka.log.retention.hours": "72",
        }),
        tags: args.tags,
      },
      { parent: this },
    );
    for (const t of args.topics) {
      new alicloud.alikafka.Topic(
        `${name}-topic-${t.name}`,
        {
          instanceId: instance.id,
          topic: t.name,
          remark: "IM platform (data.kafka.topics)",
          // Local storage: Kafka's own replication and ISR. Cloud-storage topics leave replication to the disks and
          // ignore min.insync.replicas, so acks=all would not mean "on two brokers".
          localTopic: true,
          compactTopic: false,
          partitionNum: t.partitions,
          configs: JSON.stringify({ "replication-factor": String(args.replicationFactor), ...this.topicConfig(args) }),
          tags: args.tags,
        },
        { parent: this },
      );
    }
    if (args.auth === undefined) return instance.endPoint;
    alikafkaUser(name, args, args.auth, instance, this);
    return instance.saslDomainEndpoint;
  }

  private strimzi(
    name: string,
    args: KafkaClusterArgs,
    p: Extract<KafkaPlacement, { kind: "strimzi" }>,
  ): pulumi.Output<string> {
    const opts = { parent: this, provider: p.provider };
    const operator =
      p.operator === "preinstalled"
        ? []
        : [
            new k8s.helm.v3.Release(
              `${name}-operator`,
              {
                chart: "strimzi-kafka-operator",
                version: STRIMZI_CHART_VERSION,
                repositoryOpts: { repo: "https://strimzi.io/charts/" },
                namespace: p.namespace,
                values: { watchNamespaces: [], tolerations: p.data.tolerations },
              },
              opts,
            ),
          ];
    const scram = args.auth === undefined ? {} : { authentication: { type: "scram-sha-512" } };
    const affinity = requiredNodeAffinity(p.data.nodeSelector);
    const podTemplate = { tolerations: p.data.tolerations, ...(affinity === undefined ? {} : { affinity }) };
    const pool = new k8s.apiextensions.CustomResource(
      `${name}-brokers`,
      {
        apiVersion: "kafka.strimzi.io/v1beta2",
        kind: "KafkaNodePool",
        metadata: { name: "brokers", namespace: p.namespace, labels: { "strimzi.io/cluster": "im-kafka" } },
        spec: {
          replicas: args.brokers,
          roles: ["controller", "broker"],
          storage: {
            type: "jbod",
            volumes: [
              {
                id: 0,
                type: "persistent-claim",
                size: `${args.storageGb}Gi`,
                ...(p.data.storageClass === undefined ? {} : { class: p.data.storageClass }),
                deleteClaim: false,
                kraftMetadata: "shared",
              },
            ],
          },
          template: { pod: podTemplate },
        },
      },
      { ...opts, dependsOn: operator },
    );
    const kafka = new k8s.apiextensions.CustomResource(
      name,
      {
        apiVersion: "kafka.strimzi.io/v1beta2",
        kind: "Kafka",
        metadata: {
          name: "im-kafka",
          namespace: p.namespace,
          annotations: { "strimzi.io/node-pools": "enabled", "strimzi.io/kraft": "enabled" },
        },
        spec: {
          kafka: {
            // Replicas of a partition land in different zones.
            rack: { topologyKey: "topology.kubernetes.io/zone" },
            // With auth, both listeners take SCRAM users only and the simple authorizer applies their ACLs (the
            // entity operators connect on Strimzi's own mTLS listener as super users).
            listeners: [
              { name: "tls", port: 9093, type: "internal", tls: true, ...scram },
              { name: "plain", port: 9092, type: "internal", tls: false, ...scram },
            ],
            ...(args.auth === undefined ? {} : { authorization: { type: "simple" } }),
            config: this.serverProperties(args),
            // The JMX exporter with the local target's configuration, so the alert rules read the same series here.
            ...(p.metrics
              ? {
                  metricsConfig: {
                    type: "jmxPrometheusExporter",
                    valueFrom: { configMapKeyRef: { name: KAFKA_METRICS_CONFIGMAP, key: KAFKA_METRICS_KEY } },
                  },
                }
              : {}),
          },
          entityOperator: {
            topicOperator: {},
            ...(args.auth === undefined ? {} : { userOperator: {} }),
            template: { pod: podTemplate },
          },
        },
      },
      { ...opts, dependsOn: [pool] },
    );
    for (const t of args.topics) {
      new k8s.apiextensions.CustomResource(
        `${name}-topic-${t.name}`,
        {
          apiVersion: "kafka.strimzi.io/v1beta2",
          kind: "KafkaTopic",
          metadata: { name: t.name, namespace: p.namespace, labels: { "strimzi.io/cluster": "im-kafka" } },
          spec: { partitions: t.partitions, replicas: args.replicationFactor, config: this.topicConfig(args) },
        },
        { ...opts, dependsOn: [kafka] },
      );
    }
    if (args.auth !== undefined) strimziUser(name, args, args.auth, p, kafka, this);
    return pulumi.interpolate`im-kafka-kafka-bootstrap.${p.namespace}.svc:9092`;
  }
}
