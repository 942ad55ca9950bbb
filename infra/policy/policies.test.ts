import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../../base/root.mjs";
import { loadSpec, requireKubernetes, type KubernetesPlatformSpec } from "../lib/spec.ts";
import { deployPlatform } from "../platform.ts";
import { runWithMocks, type RecordedResource } from "../mocks.ts";
import { evaluatePolicies, type PolicyInput } from "./evaluate.ts";

const stack = (name: string): KubernetesPlatformSpec =>
  requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", `${name}.yaml`)), name);
const asInputs = (rs: readonly RecordedResource[]): PolicyInput[] =>
  rs.filter((r) => r.custom).map((r) => ({ type: r.type, name: r.name, props: r.inputs, id: r.id }));
const tags = { project: "im", environment: "test", owner: "platform", "cost-center": "im" };
const messages = (rs: PolicyInput[]) => evaluatePolicies(rs).map((v) => `${v.policy}: ${v.message}`);

/** A secret seed for the existing-cluster stack (the program refuses one under 32 characters). */
const SEED = "policy-test-seed-0123456789abcdef0123";

describe("policy pack", () => {
  it("passes the multicloud stack (every resource type of both clouds and the VPN)", async () => {
    const { resources } = await runWithMocks("multicloud", () => deployPlatform(stack("multicloud")));
    assert.ok(resources.length > 200);
    assert.deepEqual(evaluatePolicies(asInputs(resources)), []);
  });

  it("catches a stack file that runs a single TiKV store and in-cluster Redis without replicas", async () => {
    const spec = stack("aws-prod");
    const aws = spec.clouds.aws;
    if (aws === undefined) throw new Error("aws-prod has clouds.aws");
    const bad: KubernetesPlatformSpec = {
      ...spec,
      data: { ...spec.data, redis: { primaries: 3, replicasPerPrimary: 1 } },
      clouds: {
        aws: {
          ...aws,
          data: {
            ...aws.data,
            tidb: { ...aws.data.tidb, tikv: 1 },
            redis: { mode: "managed", nodeType: "cache.r6g.large" },
          },
        },
      },
    };
    const { resources } = await runWithMocks("bad", () => deployPlatform(bad));
    assert.deepEqual(messages(asInputs(resources)), [
      "im-stateful-replicas: aws-data-tidb: spec.tikv.replicas is 1; at least 2 are needed",
    ]);
  });

  it("flags a deliberately bad configuration, one violation per fault", () => {
    const bad: PolicyInput[] = [
      {
        type: "aws:ec2/subnet:Subnet",
        name: "data-1",
        props: { tags: { ...tags, tier: "data" }, mapPublicIpOnLaunch: true },
      },
      {
        type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        name: "ssh",
        props: { cidrIpv4: "0.0.0.0/0", fromPort: 22, toPort: 22, description: "ssh" },
      },
      {
        type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        name: "sneaky-https",
        props: { cidrIpv4: "0.0.0.0/0", fromPort: 443, toPort: 443, description: "data tier https" },
      },
      {
        type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        name: "listener",
        props: { cidrIpv4: "0.0.0.0/0", fromPort: 443, toPort: 443, description: "lb listener: HTTPS" },
      },
      {
        type: "alicloud:ecs/securityGroupRule:SecurityGroupRule",
        name: "ali-redis",
        props: { type: "ingress", cidrIp: "0.0.0.0/0", portRange: "6379/6379", policy: "accept" },
      },
      {
        type: "aws:elasticache/replicationGroup:ReplicationGroup",
        name: "redis",
        props: { tags, atRestEncryptionEnabled: false, transitEncryptionEnabled: true, replicasPerNodeGroup: 0 },
      },
      {
        type: "aws:msk/cluster:Cluster",
        name: "kafka",
        props: {
          tags,
          numberOfBrokerNodes: 3,
          brokerNodeGroupInfo: { connectivityInfo: { publicAccess: { type: "SERVICE_PROVIDED_EIPS" } } },
          encryptionInfo: { encryptionInTransit: { clientBroker: "TLS_PLAINTEXT" } },
        },
      },
      { type: "aws:ec2/vpc:Vpc", name: "vpc", props: { tags: { project: "im" } } },
      {
        type: "alicloud:oss/bucket:Bucket",
        name: "backups",
        props: { tags, acl: "public-read", serverSideEncryptionRule: { sseAlgorithm: "KMS" } },
      },
      { type: "aws:s3/bucket:Bucket", name: "loose", id: "loose-id", props: { tags } },
      { type: "kubernetes:apps/v1:StatefulSet", name: "redis-sts", props: { spec: { replicas: 1 } } },
      { type: "alicloud:alikafka/instance:Instance", name: "ali-kafka", props: { tags, deployType: 4 } },
      {
        type: "aws:eks/cluster:Cluster",
        name: "eks-default",
        props: { tags, encryptionConfig: { resources: ["secrets"] }, vpcConfig: { subnetIds: [] } },
      },
      {
        type: "aws:eks/cluster:Cluster",
        name: "eks-open",
        props: {
          tags,
          encryptionConfig: { resources: ["secrets"] },
          vpcConfig: { endpointPublicAccess: true, publicAccessCidrs: ["203.0.113.0/24", "0.0.0.0/0"] },
        },
      },
      {
        type: "alicloud:cs/managedKubernetes:ManagedKubernetes",
        name: "ack-default",
        props: { tags, encryptionProviderKey: "key" },
      },
      {
        type: "alicloud:cs/managedKubernetes:ManagedKubernetes",
        name: "ack-private",
        props: { tags, encryptionProviderKey: "key", slbInternetEnabled: false },
      },
      {
        type: "kubernetes:storage.k8s.io/v1:StorageClass",
        name: "plain-disks",
        props: { provisioner: "ebs.csi.aws.com", parameters: { type: "gp3" } },
      },
      {
        type: "aws:eks/cluster:Cluster",
        name: "eks-listed",
        props: {
          tags,
          encryptionConfig: { resources: ["secrets"] },
          vpcConfig: { endpointPublicAccess: true, publicAccessCidrs: ["203.0.113.0/24"] },
        },
      },
    ];
    assert.deepEqual(messages(bad), [
      "im-no-public-data-tier: data-1: a data subnet must not assign public IPs (mapPublicIpOnLaunch)",
      "im-no-public-data-tier: kafka: MSK public access is SERVICE_PROVIDED_EIPS; it must be DISABLED",
      "im-no-public-data-tier: backups: bucket ACL public-read; backups must be private",
      "im-no-public-data-tier: ali-kafka: deployType 4 adds a public endpoint; use 5 (VPC only)",
      "im-encryption-on: redis: atRestEncryptionEnabled must be true",
      "im-encryption-on: kafka: encryptionInTransit.clientBroker must be TLS",
      'im-encryption-on: plain-disks: parameters.encrypted must be "true" (volumes of this class would be stored in clear)',
      "im-s3-buckets-guarded: loose: no BucketPublicAccessBlock",
      "im-s3-buckets-guarded: loose: no BucketServerSideEncryptionConfiguration",
      "im-no-world-ingress: ssh: ingress from 0.0.0.0/0 on ports 22-22: only the load balancer's listeners (80, 443) may be open to the internet",
      "im-no-world-ingress: sneaky-https: ingress from 0.0.0.0/0 on ports 443-443: only the load balancer's listeners (80, 443) may be open to the internet",
      "im-no-world-ingress: ali-redis: ingress from 0.0.0.0/0 on ports 6379-6379: only the load balancer's listeners (80, 443) may be open to the internet",
      "im-private-cluster-api: eks-default: the public API endpoint is open to 0.0.0.0/0 (no publicAccessCidrs): " +
        "list the operators' blocks in clouds.aws.cluster.apiAccessCidrs, or none for a private endpoint",
      "im-private-cluster-api: eks-open: the public API endpoint is open to 0.0.0.0/0: " +
        "list the operators' blocks in clouds.aws.cluster.apiAccessCidrs, or none for a private endpoint",
      "im-private-cluster-api: ack-default: the API server has a public SLB (slbInternetEnabled unset, default true) " +
        "that no program argument can limit to listed blocks: set slbInternetEnabled false and reach the API from the VPC",
      "im-required-tags: vpc: missing tag(s) environment, owner, cost-center",
      "im-stateful-replicas: redis: copies per shard (1 + replicasPerNodeGroup) is 1; at least 2 are needed",
      "im-stateful-replicas: redis-sts: spec.replicas is 1; at least 2 are needed",
      "im-data-tier-auth: redis: ElastiCache has neither authToken nor userGroupIds: any client in the data segment can read and write",
      "im-data-tier-auth: kafka: MSK has no client authentication (clientAuthentication.sasl.scram or iam, or tls)",
      'im-data-tier-auth: ali-kafka: ApsaraMQ for Kafka has ACLs off (config "enable.acl" is not "true")',
      "im-data-namespace-isolated: redis-sts: namespace default runs data pods without a default-deny ingress NetworkPolicy",
    ]);
  });

  it("names the resource each violation is about", () => {
    const [v] = evaluatePolicies([
      {
        type: "aws:ec2/subnet:Subnet",
        name: "data-9",
        props: { tags: { ...tags, tier: "data" }, mapPublicIpOnLaunch: true },
      },
    ]);
    assert.deepEqual(v, {
      policy: "im-no-public-data-tier",
      resource: "data-9",
      type: "aws:ec2/subnet:Subnet",
      message: "data-9: a data subnet must not assign public IPs (mapPublicIpOnLaunch)",
    });
  });

  it("refuses a pod template below the restricted Pod Security level, one line per rule broken", () => {
    const violating: PolicyInput = {
      type: "kubernetes:apps/v1:Deployment",
      name: "legacy-exporter",
      props: {
        spec: {
          template: {
            spec: {
              hostNetwork: true,
              securityContext: { runAsUser: 0 },
              volumes: [{ name: "host", hostPath: { path: "/var/run" } }],
              containers: [
                {
                  name: "exporter",
                  ports: [{ containerPort: 9100, hostPort: 9100 }],
                  securityContext: { privileged: true, capabilities: { add: ["SYS_ADMIN"] } },
                },
              ],
            },
          },
        },
      },
    };
    assert.deepEqual(messages([violating]), [
      "im-pod-security-restricted: legacy-exporter: hostNetwork must not be true",
      "im-pod-security-restricted: legacy-exporter: volume host: type hostPath is not allowed " +
        "(allowed: configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected, secret)",
      "im-pod-security-restricted: legacy-exporter: securityContext.runAsUser must not be 0",
      "im-pod-security-restricted: legacy-exporter: container exporter: privileged must not be true",
      "im-pod-security-restricted: legacy-exporter: container exporter: allowPrivilegeEscalation must be false",
      "im-pod-security-restricted: legacy-exporter: container exporter: runAsNonRoot must be true (pod or container)",
      "im-pod-security-restricted: legacy-exporter: container exporter: seccompProfile.type must be RuntimeDefault or Localhost (pod or container)",
      "im-pod-security-restricted: legacy-exporter: container exporter: capabilities.drop must include ALL",
      "im-pod-security-restricted: legacy-exporter: container exporter: capabilities.add SYS_ADMIN: only NET_BIND_SERVICE",
      "im-pod-security-restricted: legacy-exporter: container exporter: hostPort 9100 is not allowed",
    ]);
  });

  it("reads a Job's and a CronJob's pod template, and takes container settings over the pod's", () => {
    const restricted = {
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        { name: "ok", securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } } },
      ],
    };
    const rootInit = {
      ...restricted,
      initContainers: [
        {
          name: "chown",
          securityContext: { runAsUser: 0, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
        },
      ],
    };
    assert.deepEqual(
      messages([
        { type: "kubernetes:batch/v1:Job", name: "migrate", props: { spec: { template: { spec: restricted } } } },
        {
          type: "kubernetes:batch/v1:CronJob",
          name: "backup",
          props: { spec: { jobTemplate: { spec: { template: { spec: rootInit } } } } },
        },
      ]),
      ["im-pod-security-restricted: backup: initContainer chown: runAsUser must not be 0"],
    );
  });

  it("refuses a service with one stable replica, not its canary track", async () => {
    const spec = stack("embedded-cluster");
    const single: KubernetesPlatformSpec = {
      ...spec,
      services: { ...spec.services, gateway: { ...spec.services.gateway, replicas: 1 } },
    };
    const { resources } = await runWithMocks("single-gateway", () => deployPlatform(single, { secretSeed: SEED }));
    assert.deepEqual(messages(asInputs(resources)), [
      "im-service-replicas: cluster-services-gateway-stable: spec.replicas is 1; at least 2 (services.<service>.replicas in the stack file)",
    ]);
    const { resources: ok } = await runWithMocks("embedded", () => deployPlatform(spec, { secretSeed: SEED }));
    assert.deepEqual(messages(asInputs(ok)), []);
  });

  it("passes the mysqld and redis exporters and the in-cluster Redis of a cloud stack", async () => {
    const spec = stack("aws-prod");
    const aws = spec.clouds.aws;
    if (aws === undefined) throw new Error("aws-prod has clouds.aws");
    const inCluster: KubernetesPlatformSpec = {
      ...spec,
      clouds: { aws: { ...aws, data: { ...aws.data, redis: { ...aws.data.redis, mode: "in-cluster" } } } },
    };
    const { resources } = await runWithMocks("in-cluster-redis", () => deployPlatform(inCluster));
    const workloads = resources.filter((r) => /apps\/v1:(Deployment|StatefulSet)|batch\/v1:Job/.test(r.type));
    assert.ok(workloads.some((r) => r.name === "aws-monitoring-mysqld-exporter"));
    assert.ok(workloads.some((r) => r.type === "kubernetes:apps/v1:StatefulSet"));
    assert.deepEqual(
      evaluatePolicies(asInputs(workloads)).filter((v) => v.policy === "im-pod-security-restricted"),
      [],
    );
  });

  it("im-claims-name-storage-class: on a cloud stack, fails every kind of claim that names no StorageClass", () => {
    const claims: PolicyInput[] = [
      { type: "kubernetes:core/v1:PersistentVolumeClaim", name: "pvc", props: { spec: {} } },
      {
        type: "kubernetes:apps/v1:StatefulSet",
        name: "sts",
        props: { spec: { volumeClaimTemplates: [{ spec: { storageClassName: "im-encrypted" } }, { spec: {} }] } },
      },
      {
        type: "kubernetes:pingcap.com/v1alpha1:TidbCluster",
        name: "tidb",
        props: { spec: { pd: { replicas: 3, storageClassName: "im-encrypted" }, tikv: { replicas: 3 }, tidb: {} } },
      },
      {
        type: "kubernetes:kafka.strimzi.io/v1beta2:KafkaNodePool",
        name: "pool",
        props: { spec: { storage: { type: "jbod", volumes: [{ id: 0, type: "persistent-claim" }] } } },
      },
      {
        type: "kubernetes:helm.sh/v3:Release",
        name: "prom",
        props: {
          chart: "kube-prometheus-stack",
          values: { prometheus: { prometheusSpec: { storageSpec: { volumeClaimTemplate: { spec: {} } } } } },
        },
      },
    ];
    const cloud: PolicyInput = { type: "aws:ec2/vpc:Vpc", name: "vpc", props: { tags } };
    const hint = "is not set; the cluster has no default StorageClass, name one";
    assert.deepEqual(
      messages([cloud, ...claims]).filter((m) => m.startsWith("im-claims-name-storage-class")),
      [
        `pvc: spec.storageClassName ${hint}`,
        `sts: spec.volumeClaimTemplates[1].spec.storageClassName ${hint}`,
        `tidb: spec.tikv.storageClassName ${hint}`,
        `pool: spec.storage.volumes[0].class ${hint}`,
        `prom: values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName ${hint}`,
      ].map((m) => `im-claims-name-storage-class: ${m}`),
    );
    // An existing cluster (no cloud resource) may rely on its default class.
    assert.deepEqual(
      messages(claims).filter((m) => m.startsWith("im-claims-name-storage-class")),
      [],
    );
  });

  it("im-claims-name-storage-class: passes every cloud stack, in-cluster Redis and Strimzi included", async () => {
    const spec = stack("aws-prod");
    const aws = spec.clouds.aws;
    if (aws === undefined) throw new Error("aws-prod has clouds.aws");
    const inCluster: KubernetesPlatformSpec = {
      ...spec,
      clouds: {
        aws: {
          ...aws,
          data: {
            ...aws.data,
            redis: { ...aws.data.redis, mode: "in-cluster" },
            kafka: { ...aws.data.kafka, mode: "strimzi" },
          },
        },
      },
    };
    for (const s of [inCluster, stack("alicloud-prod")]) {
      const { resources } = await runWithMocks(s.name, () => deployPlatform(s));
      assert.deepEqual(messages(asInputs(resources)), [], s.name);
    }
  });

  it("im-operator-crd-fields: fails a TidbCluster spread constraint with fields TiDB Operator v1.6 lacks", () => {
    const tidb = (spread: unknown[]): PolicyInput => ({
      type: "kubernetes:pingcap.com/v1alpha1:TidbCluster",
      name: "tidb",
      props: { spec: { topologySpreadConstraints: spread, tikv: { replicas: 3, topologySpreadConstraints: spread } } },
    });
    const full = {
      maxSkew: 1,
      topologyKey: "topology.kubernetes.io/zone",
      whenUnsatisfiable: "DoNotSchedule",
      labelSelector: { matchLabels: { "app.kubernetes.io/component": "tikv" } },
    };
    const found = messages([tidb([full])]).filter((m) => m.startsWith("im-operator-crd-fields"));
    assert.deepEqual(found, [
      "im-operator-crd-fields: tidb: spec.topologySpreadConstraints[0] has maxSkew, whenUnsatisfiable, labelSelector, " +
        "which TiDB Operator v1.6's CRD does not define (allowed: topologyKey; the operator derives the rest)",
      "im-operator-crd-fields: tidb: spec.tikv.topologySpreadConstraints[0] has maxSkew, whenUnsatisfiable, labelSelector, " +
        "which TiDB Operator v1.6's CRD does not define (allowed: topologyKey; the operator derives the rest)",
    ]);
    assert.deepEqual(
      messages([tidb([{ topologyKey: "topology.kubernetes.io/zone" }])]).filter((m) =>
        m.startsWith("im-operator-crd-fields"),
      ),
      [],
    );
  });

  it("im-edge-tls: on a cloud stack fails plain-HTTP routes, Gateways without HTTPS or redirect, any Ingress", () => {
    const vpc: PolicyInput = { type: "aws:ec2/vpc:Vpc", name: "app", props: { tags } };
    const gateway = (name: string, https: boolean): PolicyInput => ({
      type: "kubernetes:gateway.networking.k8s.io/v1:Gateway",
      name,
      props: {
        metadata: { name, namespace: "im" },
        spec: {
          gatewayClassName: "im-gateway",
          listeners: [
            { name: "http", protocol: "HTTP", port: 8000 },
            ...(https
              ? [
                  {
                    name: "https",
                    protocol: "HTTPS",
                    port: 8443,
                    tls: { mode: "Terminate", certificateRefs: [{ kind: "Secret", name: "im-edge-tls" }] },
                  },
                ]
              : []),
          ],
        },
      },
    });
    const route = (name: string, gw: string, sectionName: string | undefined, redirect = false): PolicyInput => ({
      type: "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
      name,
      props: {
        metadata: { name, namespace: "im" },
        spec: {
          parentRefs: [{ name: gw, ...(sectionName === undefined ? {} : { sectionName }) }],
          rules: [
            redirect
              ? { filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } }] }
              : {
                  backendRefs: [
                    { name: "gateway", port: 8080, weight: 100 },
                    { name: "gateway-canary", port: 8080, weight: 0 },
                  ],
                },
          ],
        },
      },
    });
    const only = (rs: PolicyInput[]) => messages(rs).filter((m) => m.startsWith("im-edge-tls"));
    const good = [
      vpc,
      gateway("edge", true),
      route("redirect", "edge", "http", true),
      route("gateway", "edge", "https"),
    ];
    assert.deepEqual(only(good), []);
    // The same objects on an existing cluster (no cloud resource): its edge is its owner's.
    assert.deepEqual(only([gateway("plain", false), route("gateway", "plain", undefined)]), []);
    assert.deepEqual(
      only([
        vpc,
        gateway("plain", false),
        route("everywhere", "edge", undefined),
        route("on-http", "edge", "http"),
        route("redirect", "edge", "http", true),
        route("fine", "edge", "https"),
        gateway("edge", true),
        {
          type: "kubernetes:networking.k8s.io/v1:Ingress",
          name: "legacy",
          props: { spec: { rules: [{ host: "im.acme.io" }] } },
        },
      ]),
      [
        "im-edge-tls: everywhere: parentRefs[0] attaches to im/edge listener http, which has no TLS: set sectionName " +
          "to an HTTPS listener (the services must not be reachable over plain HTTP)",
        "im-edge-tls: on-http: parentRefs[0] attaches to im/edge listener http, which has no TLS: set sectionName to " +
          "an HTTPS listener (the services must not be reachable over plain HTTP)",
        "im-edge-tls: legacy: an Ingress: nothing serves it (ingress-nginx is retired, Traefik runs only the Gateway " +
          "API); expose the service with an HTTPRoute on the platform's Gateway",
        "im-edge-tls: plain: no HTTPS listener with a certificate: add one (protocol HTTPS, tls.certificateRefs)",
        "im-edge-tls: plain: listener http is plain HTTP without a redirect: attach an HTTPRoute whose rules redirect " +
          "to https (RequestRedirect filter, scheme https)",
      ],
    );
  });
});
