import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { REPO_ROOT } from "../../base/root.mjs";
import { decodeSecretData } from "../cluster/secret-data.ts";
import { DATA_KAFKA_USER, dataServicePassword, dataTierSecretValues } from "../lib/derived-secrets.ts";
import { loadSpec, requireKubernetes, type KubernetesPlatformSpec } from "../lib/spec.ts";
import { MOCK_SECRET_SEED, ofType, one, runWithMocks, type RecordedResource } from "../mocks.ts";
import { deployPlatform } from "../platform.ts";

const stack = (name: string): KubernetesPlatformSpec =>
  requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", `${name}.yaml`)), name);
const run = async (spec: KubernetesPlatformSpec, secretSeed?: string) =>
  (await runWithMocks(spec.name, () => deployPlatform(spec, secretSeed === undefined ? {} : { secretSeed }))).resources;
const input = (r: RecordedResource, path: string): any => path.split(".").reduce<any>((v, k) => v?.[k], r.inputs);
const values = dataTierSecretValues(MOCK_SECRET_SEED);

/** name -> the env entry of the service's stable Deployment. */
const envOf = (rs: RecordedResource[], cloud: string, svc: string): Record<string, any> =>
  Object.fromEntries(
    input(
      one(rs, "kubernetes:apps/v1:Deployment", `${cloud}-services-${svc}-stable`),
      "spec.template.spec.containers.0.env",
    ).map((e: { name: string }) => [e.name, e]),
  );
const fromSecret = (key: string) => ({ secretKeyRef: { name: "im-data-auth", key } });

/** The services' Secret im-data-auth, decoded. */
function servicesSecret(rs: RecordedResource[], cloud: string): Record<string, string> {
  const s = one(rs, "kubernetes:core/v1:Secret", `${cloud}-services-data-auth`);
  assert.equal(input(s, "metadata.namespace"), "im");
  assert.ok(
    s.secretPaths.some((p) => p.startsWith("data")),
    "the Secret's data is a Pulumi secret",
  );
  return Object.fromEntries(
    Object.entries(input(s, "data") as Record<string, string>).map(([k, v]) => [k, decodeSecretData(v)]),
  );
}

/** No ConfigMap and no plain env value anywhere carries `password`. */
function nowherePlain(rs: RecordedResource[], password: string): void {
  for (const r of rs) {
    if (r.type === "kubernetes:core/v1:ConfigMap") assert.ok(!JSON.stringify(r.inputs).includes(password), r.name);
    if (r.type === "kubernetes:apps/v1:Deployment" || r.type === "kubernetes:apps/v1:StatefulSet")
      assert.ok(!JSON.stringify(input(r, "spec.template.spec")).includes(password), r.name);
  }
}

describe("data-tier credentials derived from the secret seed", () => {
  it("are shaped for Tair, ElastiCache and ApsaraMQ, stable per seed and unrelated across seeds", () => {
    const a = dataTierSecretValues("a".repeat(32));
    assert.deepEqual(dataTierSecretValues("a".repeat(32)), a);
    for (const p of Object.values(a)) assert.match(p, /^Im1_[A-Za-z0-9_]{24}$/);
    assert.notEqual(a.redisPassword, a.kafkaPassword);
    assert.notEqual(dataTierSecretValues("b".repeat(32)).redisPassword, a.redisPassword);
    assert.equal(dataServicePassword("a".repeat(32), "x").length, 28);
  });

  it("come from the seed the caller passes, else from the config secret secretSeed", async () => {
    const seed = "c".repeat(40);
    const rs = await run(stack("aws-prod"), seed);
    assert.equal(servicesSecret(rs, "aws").REDIS_PASSWORD, dataTierSecretValues(seed).redisPassword);
  });
});

describe("AWS: ElastiCache auth token and MSK SASL/SCRAM (stacks/aws-prod.yaml)", () => {
  let rs: RecordedResource[];
  before(async () => {
    rs = await run(stack("aws-prod"));
  });

  it("gives ElastiCache the Redis password as its auth token, over TLS, as a secret", () => {
    const group = one(rs, "aws:elasticache/replicationGroup:ReplicationGroup", "aws-data-redis");
    assert.equal(input(group, "authToken"), values.redisPassword);
    assert.equal(input(group, "transitEncryptionEnabled"), true);
    assert.ok(group.secretPaths.includes("authToken"));
  });

  it("turns on SCRAM and off unauthenticated access on MSK, with the user in a KMS-encrypted AmazonMSK_ secret", () => {
    const cluster = one(rs, "aws:msk/cluster:Cluster", "aws-data-kafka");
    assert.deepEqual(input(cluster, "clientAuthentication"), {
      sasl: { scram: true, iam: false },
      unauthenticated: false,
    });
    const secret = one(rs, "aws:secretsmanager/secret:Secret", "aws-data-kafka-scram");
    assert.match(input(secret, "namePrefix"), /^AmazonMSK_/);
    assert.equal(input(secret, "kmsKeyId"), "arn:mock:aws:kms/key:Key:aws-data-kafka-scram-key");
    const version = one(rs, "aws:secretsmanager/secretVersion:SecretVersion", "aws-data-kafka-scram");
    assert.deepEqual(JSON.parse(input(version, "secretString")), {
      username: DATA_KAFKA_USER,
      password: values.kafkaPassword,
    });
    assert.ok(version.secretPaths.includes("secretString"));
    const assoc = one(rs, "aws:msk/singleScramSecretAssociation:SingleScramSecretAssociation", "aws-data-kafka-scram");
    assert.equal(input(assoc, "clusterArn"), "arn:mock:aws:msk/cluster:Cluster:aws-data-kafka");
  });

  // No ACLs on MSK (no super.users, no admin API from Pulumi): the one SCRAM user is the boundary, said in the
  // configuration rather than left to MSK's default, and the only user associated (policy im-data-tier-auth).
  it("runs MSK without ACLs and with the services' SCRAM user as the only principal", () => {
    const config = one(rs, "aws:msk/configuration:Configuration", "aws-data-kafka-config");
    assert.match(input(config, "serverProperties"), /^allow\.everyone\.if\.no\.acl\.found=true$/m);
    assert.equal(ofType(rs, "aws:msk/singleScramSecretAssociation:SingleScramSecretAssociation").length, 1);
    assert.equal(ofType(rs, "aws:msk/scramSecretAssociation:ScramSecretAssociation").length, 0);
    const cluster = one(rs, "aws:msk/cluster:Cluster", "aws-data-kafka");
    assert.equal(input(cluster, "clientAuthentication.tls"), undefined, "no mTLS principals");
  });

  it("hands the services the SCRAM listener and the credentials through secretKeyRefs only", () => {
    const message = envOf(rs, "aws", "message");
    assert.equal(message.KAFKA_BROKERS.value, "b-1.aws-data-kafka.mock:9096,b-2.aws-data-kafka.mock:9096");
    assert.equal(message.KAFKA_SASL_MECHANISM.value, "SCRAM-SHA-512");
    assert.deepEqual(message.KAFKA_SASL_PASSWORD.valueFrom, fromSecret("KAFKA_SASL_PASSWORD"));
    assert.deepEqual(message.KAFKA_SASL_USERNAME.valueFrom, fromSecret("KAFKA_SASL_USERNAME"));
    for (const svc of ["gateway", "message", "user-center"])
      assert.deepEqual(envOf(rs, "aws", svc).REDIS_PASSWORD.valueFrom, fromSecret("REDIS_PASSWORD"), svc);
    assert.equal(envOf(rs, "aws", "gateway").KAFKA_SASL_PASSWORD, undefined);
    assert.deepEqual(servicesSecret(rs, "aws"), {
      REDIS_PASSWORD: values.redisPassword,
      KAFKA_SASL_USERNAME: DATA_KAFKA_USER,
      KAFKA_SASL_PASSWORD: values.kafkaPassword,
    });
    nowherePlain(rs, values.redisPassword);
    nowherePlain(rs, values.kafkaPassword);
  });

  it("lets the redis exporter sign in with the password from its own Secret", () => {
    const exporter = one(rs, "kubernetes:apps/v1:Deployment", "aws-monitoring-redis-exporter");
    const env = input(exporter, "spec.template.spec.containers.0.env");
    assert.deepEqual(env, [
      {
        name: "REDIS_PASSWORD",
        valueFrom: { secretKeyRef: { name: "im-redis-exporter-auth", key: "REDIS_PASSWORD" } },
      },
    ]);
    const secret = one(rs, "kubernetes:core/v1:Secret", "aws-monitoring-redis-auth");
    assert.equal(decodeSecretData(input(secret, "data.REDIS_PASSWORD")), values.redisPassword);
  });
});

describe("Alibaba Cloud: Tair password and ApsaraMQ SASL user with ACLs (stacks/alicloud-prod.yaml)", () => {
  let rs: RecordedResource[];
  before(async () => {
    rs = await run(stack("alicloud-prod"));
  });

  it("sets Tair's password (a secret) and keeps TLS on", () => {
    const tair = one(rs, "alicloud:kvstore/instance:Instance", "alicloud-data-redis");
    assert.equal(input(tair, "password"), values.redisPassword);
    assert.ok(tair.secretPaths.includes("password"));
    assert.equal(input(tair, "sslEnable"), "Enable");
  });

  it("turns ACLs on, creates the services' SCRAM user and grants it the topics and the fan-out group only", () => {
    const instance = one(rs, "alicloud:alikafka/instance:Instance", "alicloud-data-kafka");
    assert.equal(JSON.parse(input(instance, "config"))["enable.acl"], "true");
    const user = one(rs, "alicloud:alikafka/saslUser:SaslUser", "alicloud-data-kafka-user");
    assert.deepEqual(
      [input(user, "username"), input(user, "password"), input(user, "type")],
      [DATA_KAFKA_USER, values.kafkaPassword, "scram"],
    );
    const acls = ofType(rs, "alicloud:alikafka/saslAcl:SaslAcl").map((a) =>
      [
        input(a, "aclResourceType"),
        input(a, "aclResourceName"),
        input(a, "aclOperationType"),
        input(a, "username"),
      ].join(" "),
    );
    assert.deepEqual(acls.sort(), [
      "Group im-fanout Read im-services",
      "Topic im.message.notify Read im-services",
      "Topic im.message.notify Write im-services",
      "Topic im.message.stored Read im-services",
      "Topic im.message.stored Write im-services",
    ]);
    const message = envOf(rs, "alicloud", "message");
    assert.equal(message.KAFKA_BROKERS.value, "alicloud-data-kafka.alikafka.mock:9094");
    assert.deepEqual([message.KAFKA_SASL_MECHANISM.value, message.KAFKA_TLS.value], ["SCRAM-SHA-256", "false"]);
    nowherePlain(rs, values.kafkaPassword);
  });
});

describe("in-cluster Redis and Strimzi with passwords, and the data namespace closed to all but the services", () => {
  let rs: RecordedResource[];
  before(async () => {
    const spec = stack("aws-prod");
    const aws = spec.clouds.aws;
    if (aws === undefined) throw new Error("aws-prod has clouds.aws");
    const data = {
      ...aws.data,
      redis: { ...aws.data.redis, mode: "in-cluster" as const },
      kafka: { ...aws.data.kafka, mode: "strimzi" as const },
    };
    rs = await run({ ...spec, clouds: { aws: { ...aws, data } } });
  });

  it("starts Redis with requirepass and masterauth from the data namespace's Secret, and redis-cli with REDISCLI_AUTH", () => {
    const set = one(rs, "kubernetes:apps/v1:StatefulSet", "aws-data-redis");
    const c = input(set, "spec.template.spec.containers.0");
    assert.deepEqual(c.args.slice(-4), ["--requirepass", "$(REDIS_PASSWORD)", "--masterauth", "$(REDIS_PASSWORD)"]);
    const ref = { secretKeyRef: { name: "im-data-auth", key: "REDIS_PASSWORD" } };
    assert.deepEqual(c.env, [
      { name: "REDIS_PASSWORD", valueFrom: ref },
      { name: "REDISCLI_AUTH", valueFrom: ref },
    ]);
    const job = input(one(rs, "kubernetes:batch/v1:Job", "aws-data-redis-create"), "spec.template.spec.containers.0");
    assert.ok(job.env.some((e: { name: string }) => e.name === "REDISCLI_AUTH"));
    const secret = one(rs, "kubernetes:core/v1:Secret", "aws-data-auth");
    assert.equal(input(secret, "metadata.namespace"), "im-data");
    assert.equal(decodeSecretData(input(secret, "data.REDIS_PASSWORD")), values.redisPassword);
    nowherePlain(rs, values.redisPassword);
  });

  it("requires SCRAM on both Strimzi listeners with the simple authorizer, and a KafkaUser with ACLs", () => {
    const kafka = one(rs, "kubernetes:kafka.strimzi.io/v1beta2:Kafka", "aws-data-kafka");
    for (const l of input(kafka, "spec.kafka.listeners"))
      assert.deepEqual(l.authentication, { type: "scram-sha-512" }, l.name);
    assert.deepEqual(input(kafka, "spec.kafka.authorization"), { type: "simple" });
    assert.deepEqual(input(kafka, "spec.entityOperator.userOperator"), {});
    const user = one(rs, "kubernetes:kafka.strimzi.io/v1beta2:KafkaUser", "aws-data-kafka-user");
    assert.equal(input(user, "metadata.name"), DATA_KAFKA_USER);
    assert.deepEqual(input(user, "spec.authentication"), {
      type: "scram-sha-512",
      password: { valueFrom: { secretKeyRef: { name: "im-data-auth", key: "KAFKA_SASL_PASSWORD" } } },
    });
    const acls = input(user, "spec.authorization.acls").map((a: any) => `${a.resource.type}:${a.resource.name}`);
    assert.deepEqual(acls, ["topic:im.message.stored", "topic:im.message.notify", "group:im-fanout"]);
    assert.equal(envOf(rs, "aws", "message").KAFKA_SASL_MECHANISM.value, "SCRAM-SHA-512");
  });

  it("has EKS's VPC CNI enforce NetworkPolicies (its network policy agent on)", () => {
    const cni = one(rs, "aws:eks/addon:Addon", "aws-eks-vpc-cni");
    assert.deepEqual(JSON.parse(input(cni, "configurationValues")), { enableNetworkPolicy: "true" });
  });

  it("denies every ingress into im-data except its own pods, the services on the data ports, monitoring and TiDB Operator", () => {
    const policies = ofType(rs, "kubernetes:networking.k8s.io/v1:NetworkPolicy").filter(
      (p) => input(p, "metadata.namespace") === "im-data",
    );
    const byName = Object.fromEntries(policies.map((p) => [input(p, "metadata.name"), input(p, "spec")]));
    assert.deepEqual(byName["default-deny-ingress"], { podSelector: {}, policyTypes: ["Ingress"], ingress: [] });
    const services = byName["allow-im-services"].ingress[0];
    assert.deepEqual(services.from, [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "im" } } }]);
    assert.deepEqual(
      services.ports.map((p: { port: number }) => p.port),
      [4000, 6379, 9092, 9093],
    );
    assert.deepEqual(Object.keys(byName).sort(), [
      "allow-im-services",
      "allow-monitoring",
      "allow-tidb-operator",
      "allow-within-data-namespace",
      "default-deny-ingress",
    ]);
  });
});
