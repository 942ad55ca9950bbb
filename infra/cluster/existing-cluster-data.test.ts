/**
 * An existing cluster's stack with its data tier in the cluster authenticates every client as the cloud stacks do
 * (issue 21, item 7): in-cluster Redis with requirepass, Strimzi with SCRAM and a KafkaUser, the services with
 * REDIS_PASSWORD and KAFKA_SASL_*, all derived from the stack's seed. Under Pulumi's mocks.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { REPO_ROOT } from "../../base/root.mjs";
import { dataTierSecretValues, DATA_KAFKA_USER } from "../lib/derived-secrets.ts";
import { loadSpec, requireKubernetes, type ExistingClusterPlatformSpec } from "../lib/spec.ts";
import { ofType, one, runWithMocks, type RecordedResource } from "../mocks.ts";
import { REDIS_EXPORTER_SECRET } from "../observability/monitoring.ts";
import { deployPlatform } from "../platform.ts";
import { evaluatePolicies } from "../policy/evaluate.ts";
import { decodeSecretData } from "./secret-data.ts";

const SEED = "0123456789abcdef0123456789abcdef-data-auth";
const input = (r: RecordedResource, path: string): any => path.split(".").reduce<any>((v, k) => v?.[k], r.inputs);
const T = {
  secret: "kubernetes:core/v1:Secret",
  statefulSet: "kubernetes:apps/v1:StatefulSet",
  job: "kubernetes:batch/v1:Job",
  deployment: "kubernetes:apps/v1:Deployment",
  kafka: "kubernetes:kafka.strimzi.io/v1beta2:Kafka",
  kafkaUser: "kubernetes:kafka.strimzi.io/v1beta2:KafkaUser",
} as const;

function stack(mode: "in-cluster" | "external"): ExistingClusterPlatformSpec {
  const s = requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", "embedded-cluster.yaml")), "embedded-cluster");
  if (s.cluster === undefined) throw new Error("embedded-cluster has a cluster section");
  if (mode === "external") return { ...s, cluster: s.cluster };
  return {
    ...s,
    cluster: {
      ...s.cluster,
      preinstalled: ["gateway-api", "prometheus-operator", "strimzi", "tidb-operator"],
      data: {
        mode: "in-cluster",
        redisStorageGb: 10,
        kafkaStorageGb: 30,
        tidb: { pd: 3, tikv: 3, tidb: 2, storageGb: 40 },
      },
    },
  };
}
const run = async (spec: ExistingClusterPlatformSpec, seed = SEED) =>
  (await runWithMocks(spec.name, () => deployPlatform(spec, { secretSeed: seed }))).resources;
const envOf = (container: any): Map<string, unknown> =>
  new Map((container.env ?? []).map((e: any) => [e.name, e.value ?? e.valueFrom]));
const secretOf = (rs: RecordedResource[], namespace: string, name: string): RecordedResource => {
  const found = ofType(rs, T.secret).filter(
    (s) => input(s, "metadata.namespace") === namespace && input(s, "metadata.name") === name,
  );
  assert.equal(found.length, 1, `${namespace}/${name}`);
  return found[0] as RecordedResource;
};
const decoded = (s: RecordedResource): Record<string, string> =>
  Object.fromEntries(
    Object.entries(input(s, "data") as Record<string, string>).map(([k, v]) => [k, decodeSecretData(v)]),
  );

describe("existing-cluster stack, in-cluster data tier: every client authenticates", () => {
  const expected = dataTierSecretValues(SEED);
  let rs: RecordedResource[];
  before(async () => {
    rs = await run(stack("in-cluster"));
  });

  it("keeps the derived Redis password and Kafka user in Secret im-data-auth of im-data and of im, as Pulumi secrets", () => {
    const want = {
      REDIS_PASSWORD: expected.redisPassword,
      KAFKA_SASL_USERNAME: DATA_KAFKA_USER,
      KAFKA_SASL_PASSWORD: expected.kafkaPassword,
    };
    for (const ns of ["im-data", "im"]) {
      const s = secretOf(rs, ns, "im-data-auth");
      assert.deepEqual(decoded(s), want, ns);
      assert.ok(
        s.secretPaths.some((p) => p.startsWith("data")),
        `${ns}: ${s.secretPaths.join(", ")}`,
      );
    }
  });

  it("starts Redis with requirepass and masterauth from the Secret; the probe and the create Job sign in", () => {
    const redis = one(rs, T.statefulSet, "cluster-redis");
    const container = input(redis, "spec.template.spec.containers.0");
    const args: string[] = container.args;
    assert.deepEqual(args.slice(args.indexOf("--requirepass")), [
      "--requirepass",
      "$(REDIS_PASSWORD)",
      "--masterauth",
      "$(REDIS_PASSWORD)",
    ]);
    const ref = { secretKeyRef: { name: "im-data-auth", key: "REDIS_PASSWORD" } };
    assert.deepEqual(envOf(container).get("REDIS_PASSWORD"), ref);
    assert.deepEqual(envOf(container).get("REDISCLI_AUTH"), ref);
    const job = one(rs, T.job, "cluster-redis-create");
    assert.deepEqual(envOf(input(job, "spec.template.spec.containers.0")).get("REDISCLI_AUTH"), ref);
    // The password itself is never an argument or a literal value.
    assert.ok(!JSON.stringify(redis.inputs).includes(expected.redisPassword));
  });

  it("runs Strimzi with SCRAM-SHA-512 on both listeners, the simple authorizer and the user operator", () => {
    const kafka = input(one(rs, T.kafka, "cluster-kafka"), "spec");
    assert.deepEqual(
      kafka.kafka.listeners.map((l: any) => [l.name, l.port, l.authentication?.type]),
      [
        ["tls", 9093, "scram-sha-512"],
        ["plain", 9092, "scram-sha-512"],
      ],
    );
    assert.deepEqual(kafka.kafka.authorization, { type: "simple" });
    assert.deepEqual(kafka.entityOperator.userOperator, {});
  });

  it("declares the services' KafkaUser with its password from the Secret and only the ACLs the message service needs", () => {
    const user = one(rs, T.kafkaUser, "cluster-kafka-user");
    assert.deepEqual(
      [input(user, "metadata.namespace"), input(user, "metadata.name"), input(user, "metadata.labels")],
      ["im-data", DATA_KAFKA_USER, { "strimzi.io/cluster": "im-kafka" }],
    );
    assert.deepEqual(input(user, "spec.authentication"), {
      type: "scram-sha-512",
      password: { valueFrom: { secretKeyRef: { name: "im-data-auth", key: "KAFKA_SASL_PASSWORD" } } },
    });
    assert.deepEqual(
      input(user, "spec.authorization.acls").map((a: any) => `${a.resource.type}:${a.resource.name}:${a.operations}`),
      [
        "topic:im.message.stored:Write,Read,Describe",
        "topic:im.message.notify:Write,Read,Describe",
        "group:im-fanout:Read",
      ],
    );
  });

  it("gives every service REDIS_PASSWORD, and message (Kafka's only client) KAFKA_SASL_*, from the Secret", () => {
    const deployments = ofType(rs, T.deployment).filter((d) => input(d, "metadata.namespace") === "im");
    const services = deployments.filter((d) => /-(stable|canary)$/.test(input(d, "metadata.name")));
    assert.equal(services.length, 6);
    for (const d of services) {
      const env = envOf(input(d, "spec.template.spec.containers.0"));
      const from = (key: string) => ({ secretKeyRef: { name: "im-data-auth", key } });
      assert.deepEqual(env.get("REDIS_PASSWORD"), from("REDIS_PASSWORD"), d.name);
      assert.ok(!JSON.stringify(d.inputs).includes(expected.redisPassword), d.name);
      if (!d.name.startsWith("cluster-services-message-")) continue;
      assert.equal(env.get("KAFKA_SASL_MECHANISM"), "SCRAM-SHA-512", d.name);
      assert.deepEqual(env.get("KAFKA_SASL_USERNAME"), from("KAFKA_SASL_USERNAME"), d.name);
      assert.deepEqual(env.get("KAFKA_SASL_PASSWORD"), from("KAFKA_SASL_PASSWORD"), d.name);
      assert.ok(!JSON.stringify(d.inputs).includes(expected.kafkaPassword), d.name);
    }
    // The redis exporter signs in too, from its own Secret in monitoring.
    assert.deepEqual(decoded(secretOf(rs, "monitoring", REDIS_EXPORTER_SECRET)), {
      REDIS_PASSWORD: expected.redisPassword,
    });
  });

  it("passes im-data-tier-auth and every other policy", () => {
    const inputs = rs.filter((r) => r.custom).map((r) => ({ type: r.type, name: r.name, props: r.inputs, id: r.id }));
    assert.deepEqual(evaluatePolicies(inputs), []);
  });

  it("rotates every data credential with the seed", async () => {
    const other = await run(stack("in-cluster"), "fedcba9876543210fedcba9876543210-data-auth");
    const a = decoded(secretOf(rs, "im-data", "im-data-auth"));
    const b = decoded(secretOf(other, "im-data", "im-data-auth"));
    assert.notEqual(a.REDIS_PASSWORD, b.REDIS_PASSWORD);
    assert.notEqual(a.KAFKA_SASL_PASSWORD, b.KAFKA_SASL_PASSWORD);
  });
});

describe("existing-cluster stack, external data tier", () => {
  it("leaves the external stores' credentials to their owner: no data Secret, no SASL or Redis password env", async () => {
    const rs = await run(stack("external"));
    assert.deepEqual(
      ofType(rs, T.secret).filter((s) => input(s, "metadata.name") === "im-data-auth"),
      [],
    );
    const env = envOf(
      input(one(rs, T.deployment, "cluster-services-message-stable"), "spec.template.spec.containers.0"),
    );
    assert.deepEqual(
      [...env.keys()].filter((k) => k === "REDIS_PASSWORD" || k.startsWith("KAFKA_SASL")),
      [],
    );
  });
});
