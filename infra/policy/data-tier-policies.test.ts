import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../../base/root.mjs";
import { loadSpec, requireKubernetes } from "../lib/spec.ts";
import { runWithMocks } from "../mocks.ts";
import { deployPlatform } from "../platform.ts";
import { dataNamespaceIsolated, dataTierAuth } from "./data-tier-policies.ts";
import { evaluatePolicies, type PolicyInput } from "./evaluate.ts";

const cloud: PolicyInput = { type: "aws:ec2/vpc:Vpc", name: "vpc", props: {} };
const messages = (rs: PolicyInput[]) =>
  evaluatePolicies(rs, [dataTierAuth, dataNamespaceIsolated]).map((v) => `${v.policy}: ${v.message}`);

describe("im-data-tier-auth", () => {
  const open: PolicyInput[] = [
    {
      type: "aws:elasticache/replicationGroup:ReplicationGroup",
      name: "cache",
      props: { transitEncryptionEnabled: true },
    },
    { type: "aws:msk/cluster:Cluster", name: "msk", props: {} },
    {
      type: "aws:msk/cluster:Cluster",
      name: "msk-both",
      props: { clientAuthentication: { sasl: { scram: true }, unauthenticated: true } },
    },
    { type: "alicloud:kvstore/instance:Instance", name: "tair", props: { sslEnable: "Enable" } },
    { type: "alicloud:alikafka/instance:Instance", name: "alikafka", props: { config: '{"enable.acl":"false"}' } },
    {
      type: "kubernetes:kafka.strimzi.io/v1beta2:Kafka",
      name: "strimzi",
      props: {
        spec: { kafka: { listeners: [{ name: "tls", authentication: { type: "scram-sha-512" } }, { name: "plain" }] } },
      },
    },
    {
      type: "kubernetes:apps/v1:StatefulSet",
      name: "redis",
      props: {
        metadata: { namespace: "im-data" },
        spec: { template: { spec: { containers: [{ image: "redis:7.4.2", args: ["--cluster-enabled", "yes"] }] } } },
      },
    },
  ];

  it("fails every Redis and Kafka that takes unauthenticated clients, on a cloud stack", () => {
    assert.deepEqual(
      messages([cloud, ...open]).filter((m) => m.startsWith("im-data-tier-auth")),
      [
        "cache: ElastiCache has neither authToken nor userGroupIds: any client in the data segment can read and write",
        "msk: MSK has no client authentication (clientAuthentication.sasl.scram or iam, or tls)",
        "msk-both: MSK keeps unauthenticated access on (clientAuthentication.unauthenticated)",
        "tair: Tair/Redis has no password (password or kmsEncryptedPassword)",
        'alikafka: ApsaraMQ for Kafka has ACLs off (config "enable.acl" is not "true")',
        "strimzi: Strimzi listener(s) plain take unauthenticated clients",
        "redis: in-cluster Redis starts without --requirepass",
      ].map((m) => `im-data-tier-auth: ${m}`),
    );
  });

  it("fails an MSK cluster without ACLs that has a second SCRAM user, and passes one user or ACLs on", () => {
    const msk: PolicyInput = {
      type: "aws:msk/cluster:Cluster",
      name: "msk",
      props: { clientAuthentication: { sasl: { scram: true, iam: false }, unauthenticated: false } },
    };
    const config = (allow: string): PolicyInput => ({
      type: "aws:msk/configuration:Configuration",
      name: "msk-config",
      props: { serverProperties: `min.insync.replicas=2\nallow.everyone.if.no.acl.found=${allow}` },
    });
    const user = (name: string): PolicyInput => ({
      type: "aws:msk/singleScramSecretAssociation:SingleScramSecretAssociation",
      name,
      props: { clusterArn: "arn:msk", secretArn: `arn:${name}` },
    });
    const two = [cloud, msk, config("true"), user("services"), user("analytics")];
    assert.deepEqual(messages(two), [
      "im-data-tier-auth: MSK has 2 SCRAM users and no ACLs (allow.everyone.if.no.acl.found is not false): each can " +
        "read, write and delete every topic; keep the services' user alone or turn ACLs on with the grants each user needs",
    ]);
    // MSK's default is true: a configuration that does not mention it is no different.
    const many: PolicyInput = {
      type: "aws:msk/scramSecretAssociation:ScramSecretAssociation",
      name: "many",
      props: { clusterArn: "arn:msk", secretArnLists: ["arn:a", "arn:b"] },
    };
    assert.equal(messages([cloud, msk, { ...config("x"), props: { serverProperties: "" } }, many]).length, 1);
    assert.deepEqual(messages([cloud, msk, config("true"), user("services")]), []);
    assert.deepEqual(messages([cloud, msk, config("false"), user("services"), user("analytics")]), []);
  });

  it("fails an existing cluster's in-cluster Redis and Strimzi without authentication (no cloud resource needed)", () => {
    const inCluster = open.filter((r) => r.type.startsWith("kubernetes:"));
    assert.equal(inCluster.length, 2);
    assert.deepEqual(messages(inCluster), [
      "im-data-tier-auth: strimzi: Strimzi listener(s) plain take unauthenticated clients",
      "im-data-tier-auth: redis: in-cluster Redis starts without --requirepass",
    ]);
  });

  it("passes an existing cluster's stack with its data tier in the cluster, as the program declares it", async () => {
    const s = requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", "embedded-cluster.yaml")), "embedded-cluster");
    if (s.cluster === undefined) throw new Error("embedded-cluster has a cluster section");
    const spec = {
      ...s,
      cluster: {
        ...s.cluster,
        preinstalled: ["gateway-api", "strimzi", "tidb-operator"] as const,
        data: {
          mode: "in-cluster" as const,
          redisStorageGb: 1,
          kafkaStorageGb: 10,
          tidb: { pd: 3, tikv: 3, tidb: 2, storageGb: 10 },
        },
      },
    };
    const { resources } = await runWithMocks("embedded-data", () =>
      deployPlatform(
        { ...spec, cluster: { ...spec.cluster, preinstalled: [...spec.cluster.preinstalled] } },
        {
          secretSeed: "0123456789abcdef0123456789abcdef-policy",
        },
      ),
    );
    const inputs = resources.filter((r) => r.custom).map((r) => ({ type: r.type, name: r.name, props: r.inputs }));
    assert.ok(inputs.some((r) => r.type === "kubernetes:kafka.strimzi.io/v1beta2:Kafka"));
    assert.deepEqual(messages(inputs), []);
  });
});

describe("im-data-namespace-isolated", () => {
  const redis: PolicyInput = {
    type: "kubernetes:apps/v1:StatefulSet",
    name: "redis",
    props: { metadata: { namespace: "im-data" }, spec: {} },
  };
  const policy = (name: string, spec: Record<string, unknown>): PolicyInput => ({
    type: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    name,
    props: { metadata: { namespace: "im-data" }, spec },
  });

  it("fails data pods in a namespace without a default-deny ingress policy, and passes them with one", () => {
    const isolated = (rs: PolicyInput[]) => messages(rs).filter((m) => m.startsWith("im-data-namespace-isolated"));
    const missing = [
      "im-data-namespace-isolated: redis: namespace im-data runs data pods without a default-deny ingress NetworkPolicy",
    ];
    assert.deepEqual(isolated([cloud, redis]), missing);
    // Allowing something, or selecting only some pods, is not a default deny.
    const allowAll = policy("allow", { podSelector: {}, policyTypes: ["Ingress"], ingress: [{}] });
    const some = policy("some", { podSelector: { matchLabels: { app: "x" } }, policyTypes: ["Ingress"], ingress: [] });
    assert.deepEqual(isolated([cloud, redis, allowAll, some]), missing);
    assert.deepEqual(
      isolated([cloud, redis, policy("deny", { podSelector: {}, policyTypes: ["Ingress"], ingress: [] })]),
      [],
    );
  });

  it("passes the cloud stacks as the program declares them", async () => {
    for (const name of ["aws-prod", "alicloud-prod"]) {
      const spec = requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", `${name}.yaml`)), name);
      const { resources } = await runWithMocks(name, () => deployPlatform(spec));
      const inputs = resources.filter((r) => r.custom).map((r) => ({ type: r.type, name: r.name, props: r.inputs }));
      assert.deepEqual(messages(inputs), [], name);
    }
  });
});
