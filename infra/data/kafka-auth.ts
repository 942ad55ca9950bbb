/**
 * The services' Kafka user on each placement (KafkaCluster's `auth`): MSK's SCRAM secret, ApsaraMQ's SASL user and
 * ACLs, Strimzi's KafkaUser. Each grants one user what the message service does: write and read the platform's
 * topics, and read as the fan-out's consumer group.
 */
import * as alicloud from "@pulumi/alicloud";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { KafkaClusterArgs, KafkaPlacement } from "./kafka-cluster.ts";

/** The consumer group of the message service's fan-out (services/message/src/consumer-supervisor.ts). */
export const FANOUT_GROUP = "im-fanout";

type Auth = NonNullable<KafkaClusterArgs["auth"]>;

/**
 * MSK reads SCRAM users from Secrets Manager: a secret named AmazonMSK_..., encrypted with a customer-managed KMS
 * key (MSK refuses one under the default aws/secretsmanager key), associated with the cluster.
 */
export function mskScramSecret(
  name: string,
  args: KafkaClusterArgs,
  auth: Auth,
  cluster: aws.msk.Cluster,
  parent: pulumi.Resource,
): void {
  const key = new aws.kms.Key(
    `${name}-scram-key`,
    { description: `${name}: MSK SCRAM secrets`, enableKeyRotation: true, tags: args.tags },
    { parent },
  );
  const secret = new aws.secretsmanager.Secret(
    `${name}-scram`,
    { namePrefix: `AmazonMSK_${name}-`, kmsKeyId: key.arn, tags: args.tags },
    { parent },
  );
  const version = new aws.secretsmanager.SecretVersion(
    `${name}-scram`,
    {
      secretId: secret.id,
      secretString: pulumi.secret(
        pulumi.output(auth.password).apply((password) => JSON.stringify({ username: auth.username, password })),
      ),
    },
    { parent },
  );
  new aws.msk.SingleScramSecretAssociation(
    `${name}-scram`,
    { clusterArn: cluster.arn, secretArn: secret.arn },
    { parent, dependsOn: [version] },
  );
}

/** The services' SASL user (SCRAM) and its ACLs: write and read the platform's topics, read as the fan-out group. */
export function alikafkaUser(
  name: string,
  args: KafkaClusterArgs,
  auth: Auth,
  instance: alicloud.alikafka.Instance,
  parent: pulumi.Resource,
): void {
  const user = new alicloud.alikafka.SaslUser(
    `${name}-user`,
    { instanceId: instance.id, username: auth.username, password: pulumi.secret(auth.password), type: "scram" },
    { parent },
  );
  const acls: { key: string; type: "Topic" | "Group"; resource: string; operation: "Write" | "Read" }[] = [
    ...args.topics.flatMap((t) => [
      { key: `${t.name}-write`, type: "Topic" as const, resource: t.name, operation: "Write" as const },
      { key: `${t.name}-read`, type: "Topic" as const, resource: t.name, operation: "Read" as const },
    ]),
    { key: `group-${FANOUT_GROUP}`, type: "Group", resource: FANOUT_GROUP, operation: "Read" },
  ];
  for (const acl of acls)
    new alicloud.alikafka.SaslAcl(
      `${name}-acl-${acl.key}`,
      {
        instanceId: instance.id,
        username: auth.username,
        aclResourceType: acl.type,
        aclResourceName: acl.resource,
        aclResourcePatternType: "LITERAL",
        aclOperationType: acl.operation,
      },
      { parent, dependsOn: [user] },
    );
}

/** The services' KafkaUser: SCRAM with the password from the data namespace's Secret, and its ACLs. */
export function strimziUser(
  name: string,
  args: KafkaClusterArgs,
  auth: Auth,
  p: Extract<KafkaPlacement, { kind: "strimzi" }>,
  kafka: pulumi.Resource,
  parent: pulumi.Resource,
): void {
  const topicAcls = args.topics.map((t) => ({
    resource: { type: "topic", name: t.name, patternType: "literal" },
    operations: ["Write", "Read", "Describe"],
  }));
  new k8s.apiextensions.CustomResource(
    `${name}-user`,
    {
      apiVersion: "kafka.strimzi.io/v1beta2",
      kind: "KafkaUser",
      metadata: { name: auth.username, namespace: p.namespace, labels: { "strimzi.io/cluster": "im-kafka" } },
      spec: {
        authentication: {
          type: "scram-sha-512",
          password: { valueFrom: { secretKeyRef: { name: auth.secret.name, key: auth.secret.key } } },
        },
        authorization: {
          type: "simple",
          acls: [
            ...topicAcls,
            { resource: { type: "group", name: FANOUT_GROUP, patternType: "literal" }, operations: ["Read"] },
          ],
        },
      },
    },
    { parent, provider: p.provider, dependsOn: [kafka] },
  );
}
