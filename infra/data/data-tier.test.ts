import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { REPO_ROOT } from "../../base/root.mjs";
import { loadSpec, requireKubernetes, type KubernetesPlatformSpec } from "../lib/spec.ts";
import { execa } from "execa";
import { ofType, one, runWithMocks, type RecordedResource } from "../mocks.ts";
import { deployPlatform } from "../platform.ts";
import { MIGRATE_SCRIPT } from "./database-schema.ts";
import { decodeSecretData } from "../cluster/secret-data.ts";

const stack = (name: string): KubernetesPlatformSpec =>
  requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", `${name}.yaml`)), name);
const run = async (spec: KubernetesPlatformSpec) =>
  (await runWithMocks(spec.name, () => deployPlatform(spec))).resources;
const input = (r: RecordedResource, path: string): any => path.split(".").reduce<any>((v, k) => v?.[k], r.inputs);

describe("Kafka topics from data.kafka.topics", () => {
  let multicloud: RecordedResource[];
  before(async () => {
    multicloud = await run(stack("multicloud"));
  });

  it("creates each topic on MSK with replication 3 and min.insync.replicas 2", () => {
    const topics = ofType(multicloud, "aws:msk/topic:Topic");
    assert.deepEqual(
      topics.map((t) => [input(t, "name"), input(t, "partitionCount"), input(t, "replicationFactor")]),
      [
        ["im.message.stored", 12, 3],
        ["im.message.notify", 12, 3],
      ],
    );
    for (const t of topics) {
      assert.equal(input(t, "clusterArn"), "arn:mock:aws:msk/cluster:Cluster:aws-data-kafka");
      assert.equal(JSON.parse(input(t, "configs"))["min.insync.replicas"], "2");
    }
  });

  it("creates each topic on ApsaraMQ as a local-storage topic with Kafka's own replication", () => {
    const topics = ofType(multicloud, "alicloud:alikafka/topic:Topic");
    assert.deepEqual(
      topics.map((t) => [input(t, "topic"), input(t, "partitionNum"), input(t, "localTopic")]),
      [
        ["im.message.stored", 12, true],
        ["im.message.notify", 12, true],
      ],
    );
    for (const t of topics) {
      const configs = JSON.parse(input(t, "configs"));
      assert.deepEqual([configs["replication-factor"], configs["min.insync.replicas"]], ["3", "2"]);
      assert.equal(input(t, "instanceId"), "alicloud-data-kafka-id");
    }
  });

  it("creates KafkaTopics for Strimzi, with the spec's replication and min ISR", async () => {
    const spec = stack("aws-prod");
    const aws = spec.clouds.aws;
    if (aws === undefined) throw new Error("aws-prod has clouds.aws");
    const kafka = { ...spec.data.kafka, topics: [{ name: "im.message.stored", partitions: 24 }] };
    const rs = await run({
      ...spec,
      data: { ...spec.data, kafka },
      clouds: { aws: { ...aws, data: { ...aws.data, kafka: { ...aws.data.kafka, mode: "strimzi" } } } },
    });
    assert.equal(ofType(rs, "aws:msk/topic:Topic").length, 0);
    const [topic, ...rest] = ofType(rs, "kubernetes:kafka.strimzi.io/v1beta2:KafkaTopic");
    assert.equal(rest.length, 0);
    assert.ok(topic);
    assert.deepEqual(input(topic, "metadata.labels"), { "strimzi.io/cluster": "im-kafka" });
    assert.deepEqual(
      [
        input(topic, "spec.partitions"),
        input(topic, "spec.replicas"),
        input(topic, "spec.config")["min.insync.replicas"],
      ],
      [24, 3, "2"],
    );
  });
});

describe("TiDB users and schema migrations (stacks/aws-prod.yaml)", () => {
  let rs: RecordedResource[];
  before(async () => {
    rs = await run(stack("aws-prod"));
  });

  it("sets a generated root password through a TidbInitializer, kept secret", () => {
    const root = one(rs, "kubernetes:core/v1:Secret", "aws-data-tidb-root");
    assert.deepEqual(input(root, "metadata"), { name: "im-tidb-root", namespace: "im-data" });
    assert.equal(decodeSecretData(input(root, "data.root")), "mock-password-aws-data-tidb-root-password");
    assert.equal(input(root, "stringData"), undefined);
    assert.ok(
      root.secretPaths.some((p) => p.startsWith("data")),
      `secret paths: ${root.secretPaths.join(", ")}`,
    );
    const init = one(rs, "kubernetes:pingcap.com/v1alpha1:TidbInitializer", "aws-data-tidb-initializer");
    assert.deepEqual([input(init, "spec.cluster.name"), input(init, "spec.passwordSecret")], ["im", "im-tidb-root"]);
  });

  it("migrates with the pushed message image as root, creating the services' user with a generated password", () => {
    const job = one(rs, "kubernetes:batch/v1:Job", "aws-schema");
    const pod = input(job, "spec.template.spec");
    const c = pod.containers[0];
    assert.equal(
      c.image,
      input(
        one(rs, "kubernetes:apps/v1:Deployment", "aws-services-message-stable"),
        "spec.template.spec.containers.0.image",
      ),
    );
    assert.match(c.image, /\/aws-prod\/message:0\.1\.0@sha256:/);
    assert.deepEqual(c.command, ["node", "/migrate/migrate.mjs"]);
    const env = Object.fromEntries(
      c.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [e.name, e.value ?? e.valueFrom]),
    );
    assert.deepEqual(
      [env.DB_HOST, env.DB_PORT, env.DB_NAME, env.DB_USER],
      ["im-tidb.im-data.svc", "4000", "im", "im_app"],
    );
    assert.deepEqual(env.ROOT_PASSWORD, { secretKeyRef: { name: "im-tidb-root", key: "root" } });
    assert.deepEqual(env.DB_PASSWORD, { secretKeyRef: { name: "im-migrate-credentials", key: "DB_PASSWORD" } });
    assert.equal(pod.restartPolicy, "Never");
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(
      input(one(rs, "kubernetes:core/v1:ConfigMap", "aws-schema-script"), "data")["migrate.mjs"],
      MIGRATE_SCRIPT,
    );
  });

  it("hands the services the same generated user through their own Secret", () => {
    const jobSecret = one(rs, "kubernetes:core/v1:Secret", "aws-schema-credentials");
    const servicesSecret = one(rs, "kubernetes:core/v1:Secret", "aws-services-database");
    assert.deepEqual(input(servicesSecret, "metadata"), { name: "im-database", namespace: "im" });
    // `data`, base64, never stringData (infra/cluster/secret-data.ts says why).
    assert.deepEqual(input(servicesSecret, "data"), {
      DB_USER: Buffer.from("im_app").toString("base64"),
      DB_PASSWORD: input(jobSecret, "data.DB_PASSWORD"),
    });
    assert.equal(decodeSecretData(input(jobSecret, "data.DB_PASSWORD")), "mock-password-aws-schema-app-password");
    assert.ok(servicesSecret.secretPaths.some((p) => p.startsWith("data")));
    for (const svc of ["message", "user-center"]) {
      const env = input(
        one(rs, "kubernetes:apps/v1:Deployment", `aws-services-${svc}-stable`),
        "spec.template.spec.containers.0.env",
      );
      assert.deepEqual(env.find((e: { name: string }) => e.name === "DB_PASSWORD").valueFrom, {
        secretKeyRef: { name: "im-database", key: "DB_PASSWORD" },
      });
    }
  });
});

describe("the migrations Job's script", () => {
  it("is valid JavaScript and refuses to run without its settings, naming the first missing one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "im-migrate-"));
    try {
      const file = join(dir, "migrate.mjs");
      writeFileSync(file, MIGRATE_SCRIPT);
      const check = await execa(process.execPath, ["--check", file], { reject: false });
      assert.equal(check.exitCode, 0, check.stderr);
      const r = await execa(process.execPath, [file], {
        reject: false,
        env: { DB_HOST: "im-tidb.im-data.svc" },
        extendEnv: false,
      });
      assert.equal(r.exitCode, 78);
      assert.equal(r.stderr.trim(), "migrate: DB_PORT is not set");
      const bad = await execa(process.execPath, [file], {
        reject: false,
        extendEnv: false,
        env: {
          DB_HOST: "h",
          DB_PORT: "4000",
          DB_NAME: "im; DROP",
          DB_USER: "u",
          DB_PASSWORD: "p",
          ROOT_PASSWORD: "r",
          CONNECT_TIMEOUT_SECONDS: "1",
        },
      });
      assert.equal(bad.exitCode, 78);
      assert.match(bad.stderr, /DB_NAME "im; DROP" is not a plain schema name/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("encrypted disks for every volume of the data tier", () => {
  it("declares an encrypted, zone-bound, retained StorageClass per cloud, named by TiDB's claims", async () => {
    const rs = await run(stack("multicloud"));
    const classes = ofType(rs, "kubernetes:storage.k8s.io/v1:StorageClass").sort((x, y) =>
      y.name.localeCompare(x.name),
    );
    assert.deepEqual(
      classes.map((c) => [
        c.name,
        input(c, "metadata.name"),
        input(c, "provisioner"),
        input(c, "parameters.encrypted"),
        input(c, "volumeBindingMode"),
        input(c, "reclaimPolicy"),
      ]),
      [
        ["aws-storage", "im-encrypted", "ebs.csi.aws.com", "true", "WaitForFirstConsumer", "Retain"],
        [
          "alicloud-storage",
          "im-encrypted",
          "diskplugin.csi.alibabacloud.com",
          "true",
          "WaitForFirstConsumer",
          "Retain",
        ],
      ],
    );
    for (const cloud of ["aws", "alicloud"]) {
      const tidb = one(rs, "kubernetes:pingcap.com/v1alpha1:TidbCluster", `${cloud}-data-tidb`);
      assert.deepEqual(
        [input(tidb, "spec.pd.storageClassName"), input(tidb, "spec.tikv.storageClassName")],
        ["im-encrypted", "im-encrypted"],
      );
      // Zone spread as TiDB Operator v1.6's CRD takes it: the topology key only, at the cluster level.
      assert.deepEqual(input(tidb, "spec.topologySpreadConstraints"), [{ topologyKey: "topology.kubernetes.io/zone" }]);
      for (const part of ["pd", "tikv", "tidb"])
        assert.equal(input(tidb, `spec.${part}.topologySpreadConstraints`), undefined);
    }
  });

  it("puts in-cluster Redis and Strimzi brokers on the same class", async () => {
    const spec = stack("aws-prod");
    const aws = spec.clouds.aws;
    if (aws === undefined) throw new Error("aws-prod has clouds.aws");
    const data = {
      ...aws.data,
      redis: { ...aws.data.redis, mode: "in-cluster" as const },
      kafka: { ...aws.data.kafka, mode: "strimzi" as const },
    };
    const rs = await run({ ...spec, clouds: { aws: { ...aws, data } } });
    assert.equal(
      input(
        one(rs, "kubernetes:apps/v1:StatefulSet", "aws-data-redis"),
        "spec.volumeClaimTemplates.0.spec.storageClassName",
      ),
      "im-encrypted",
    );
    assert.equal(
      input(
        one(rs, "kubernetes:kafka.strimzi.io/v1beta2:KafkaNodePool", "aws-data-kafka-brokers"),
        "spec.storage.volumes.0.class",
      ),
      "im-encrypted",
    );
  });
});

describe("TLS to the data tier, as each store offers it", () => {
  const envOf = (rs: RecordedResource[], cloud: string, svc: string) =>
    Object.fromEntries(
      input(
        one(rs, "kubernetes:apps/v1:Deployment", `${cloud}-services-${svc}-stable`),
        "spec.template.spec.containers.0.env",
      ).map((e: { name: string; value?: string }) => [e.name, e.value]),
    );

  it("speaks TLS to ElastiCache and MSK, verified against the system's roots", async () => {
    const rs = await run(stack("aws-prod"));
    const message = envOf(rs, "aws", "message");
    assert.deepEqual([message.REDIS_TLS, message.KAFKA_TLS, message.DB_TLS], ["true", "true", "true"]);
    assert.equal(message.REDIS_TLS_CA_FILE, undefined);
    assert.deepEqual([envOf(rs, "aws", "gateway").REDIS_TLS, envOf(rs, "aws", "user-center").DB_TLS], ["true", "true"]);
  });

  it("speaks TLS to Tair with its CA mounted from the im-data-ca Secret, plaintext to ApsaraMQ's VPC endpoint", async () => {
    const rs = await run(stack("alicloud-prod"));
    const message = envOf(rs, "alicloud", "message");
    assert.deepEqual(
      [message.REDIS_TLS, message.REDIS_TLS_CA_FILE, message.KAFKA_TLS],
      ["true", "/etc/im/ca/tair-ca.pem", "false"],
    );
    const pod = input(
      one(rs, "kubernetes:apps/v1:Deployment", "alicloud-services-gateway-stable"),
      "spec.template.spec",
    );
    assert.deepEqual(pod.volumes[0], { name: "data-ca", secret: { secretName: "im-data-ca" } });
    assert.deepEqual(pod.containers[0].volumeMounts[0], { name: "data-ca", mountPath: "/etc/im/ca", readOnly: true });
  });

  it("speaks plaintext to in-cluster Redis and Strimzi, which never leave the cluster network", async () => {
    const spec = stack("aws-prod");
    const aws = spec.clouds.aws;
    if (aws === undefined) throw new Error("aws-prod has clouds.aws");
    const data = {
      ...aws.data,
      redis: { ...aws.data.redis, mode: "in-cluster" as const },
      kafka: { ...aws.data.kafka, mode: "strimzi" as const },
    };
    const rs = await run({ ...spec, clouds: { aws: { ...aws, data } } });
    const message = envOf(rs, "aws", "message");
    assert.deepEqual([message.REDIS_TLS, message.KAFKA_TLS], ["false", "false"]);
    assert.deepEqual(
      input(one(rs, "kubernetes:apps/v1:Deployment", "aws-services-message-stable"), "spec.template.spec.volumes"),
      [{ name: "database-tls", secret: { secretName: "im-tidb-tls" } }],
    );
  });
});

describe("TLS inside TiDB and to its SQL clients, from cert-manager", () => {
  let rs: RecordedResource[];
  before(async () => {
    rs = await run(stack("aws-prod"));
  });
  const cert = (name: string) => one(rs, "kubernetes:cert-manager.io/v1:Certificate", name);

  it("installs cert-manager and a platform CA as a ClusterIssuer rooted in a self-signed certificate", () => {
    const release = one(rs, "kubernetes:helm.sh/v3:Release", "aws-cert-manager");
    assert.deepEqual(
      [input(release, "chart"), input(release, "version"), input(release, "values.crds.enabled")],
      ["cert-manager", "v1.17.3", true],
    );
    const ca = cert("aws-data-tidb-tls-ca");
    assert.deepEqual(
      [input(ca, "metadata.namespace"), input(ca, "spec.isCA"), input(ca, "spec.issuerRef")],
      ["cert-manager", true, { name: "im-tidb-ca-root", kind: "ClusterIssuer" }],
    );
    assert.deepEqual(
      input(one(rs, "kubernetes:cert-manager.io/v1:ClusterIssuer", "aws-data-tidb-tls-issuer"), "spec"),
      { ca: { secretName: "im-tidb-ca-secret" } },
    );
  });

  it("issues the certificates TiDB Operator expects, with the components' service and peer names", () => {
    const pd = cert("aws-data-tidb-tls-pd-cluster");
    assert.equal(input(pd, "spec.secretName"), "im-pd-cluster-secret");
    assert.deepEqual(input(pd, "spec.usages"), ["server auth", "client auth"]);
    for (const n of ["im-pd", "im-pd.im-data.svc", "im-pd-peer", "*.im-pd-peer.im-data.svc"])
      assert.ok(input(pd, "spec.dnsNames").includes(n), n);
    assert.equal(input(cert("aws-data-tidb-tls-tikv-cluster"), "spec.secretName"), "im-tikv-cluster-secret");
    assert.equal(input(cert("aws-data-tidb-tls-cluster-client"), "spec.secretName"), "im-cluster-client-secret");
    const server = cert("aws-data-tidb-tls-tidb-server");
    assert.ok(input(server, "spec.dnsNames").includes("im-tidb.im-data.svc"), "the host the services connect to");
    const tidb = one(rs, "kubernetes:pingcap.com/v1alpha1:TidbCluster", "aws-data-tidb");
    assert.deepEqual(
      [input(tidb, "spec.tlsCluster.enabled"), input(tidb, "spec.tidb.tlsClient.enabled")],
      [true, true],
    );
    const init = one(rs, "kubernetes:pingcap.com/v1alpha1:TidbInitializer", "aws-data-tidb-initializer");
    assert.equal(input(init, "spec.tlsClientSecretName"), "im-tidb-client-secret");
  });

  it("verifies TiDB's certificate from the services and the migrations Job", () => {
    const client = cert("aws-services-database-tls");
    assert.deepEqual(
      [input(client, "metadata.namespace"), input(client, "spec.secretName"), input(client, "spec.issuerRef.name")],
      ["im", "im-tidb-tls", "im-tidb-ca"],
    );
    const pod = input(
      one(rs, "kubernetes:apps/v1:Deployment", "aws-services-user-center-stable"),
      "spec.template.spec",
    );
    const env = Object.fromEntries(
      pod.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]),
    );
    assert.deepEqual([env.DB_TLS, env.DB_TLS_CA_FILE], ["true", "/etc/im/tidb/ca.crt"]);
    assert.deepEqual(pod.containers[0].volumeMounts, [
      { name: "database-tls", mountPath: "/etc/im/tidb", readOnly: true },
    ]);
    const job = input(one(rs, "kubernetes:batch/v1:Job", "aws-schema"), "spec.template.spec");
    assert.equal(
      job.containers[0].env.find((e: { name: string }) => e.name === "DB_TLS_CA_FILE").value,
      "/etc/tidb-tls/ca.crt",
    );
    assert.deepEqual(job.volumes[1], { name: "tls", secret: { secretName: "im-tidb-client-secret" } });
  });
});
