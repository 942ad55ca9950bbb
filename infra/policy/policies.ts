/**
 * The platform's policies, as @pulumi/policy policies. The pack (infra/policy/index.ts) hands them to the Pulumi
 * engine (`pulumi preview --policy-pack infra/policy`); `evaluate.ts` runs the same functions over the resources a
 * mocked run records, for the tests and for `imctl plan`.
 *
 * - im-no-public-data-tier: data subnets hand out no public address; MSK, Kafka and Redis have no public endpoint;
 *   buckets are private.
 * - im-encryption-on: at rest and in transit wherever the resource offers it.
 * - im-no-world-ingress: no ingress from 0.0.0.0/0 (or ::/0) except the load balancer's listeners (80 and 443 on
 *   a rule whose description starts with "lb listener", which only the lb group's rules carry).
 * - im-private-cluster-api: a Kubernetes API endpoint reachable from the internet lists who may reach it, and the list
 *   is not 0.0.0.0/0 (EKS opens an enabled public endpoint to the world unless told otherwise); an ACK API server has
 *   no public SLB at all (its listener's access list is ACK's, out of the program's reach).
 * - im-required-tags: every taggable resource carries project, environment, owner and cost-center.
 * - im-stateful-replicas: every stateful component keeps at least two copies.
 * - im-claims-name-storage-class: on a cloud stack, every volume claim (PVCs, StatefulSet claim templates, TiDB's PD
 *   and TiKV, Strimzi's node pools, kube-prometheus-stack's Prometheus) names its StorageClass: EKS creates no default
 *   class since Kubernetes 1.30 and ACK none at all, so a claim without one stays Pending.
 * - im-operator-crd-fields: custom resources carry only fields their operator's CRD defines (TiDB Operator v1.6's
 *   topology spread constraints have `topologyKey` only), so nothing is silently pruned.
 * - im-pod-security-restricted: every workload's pod template passes the Pod Security `restricted` level (the level
 *   the platform's namespaces enforce), checked before the API server would refuse the pods.
 * - im-data-tier-auth, im-data-namespace-isolated: see data-tier-policies.ts.
 */
import type {
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { LB_LISTENER_PORTS } from "../lib/network-rules.ts";
import { at, list, type Props } from "./props.ts";
import { claimsNameStorageClass, edgeTls, operatorCrdFields } from "./workload-policies.ts";
import { dataNamespaceIsolated, dataTierAuth } from "./data-tier-policies.ts";
import { podSecurityProblems } from "../lib/pod-security.ts";
import { REQUIRED_TAGS } from "../lib/spec-cloud.ts";

const WORLD = new Set(["0.0.0.0/0", "::/0"]);
const LB_PORTS = new Set(LB_LISTENER_PORTS.map((p) => p.from));
const LB_DESCRIPTION = /^lb listener/;

/** Why this ingress may not stand, or null: only the LB's listener ports may be open to the world. */
function worldIngressProblem(
  cidrs: readonly unknown[],
  from: unknown,
  to: unknown,
  description: unknown,
): string | null {
  const world = cidrs.filter((c): c is string => typeof c === "string" && WORLD.has(c));
  if (world.length === 0) return null;
  const listener =
    from === to &&
    typeof from === "number" &&
    LB_PORTS.has(from) &&
    typeof description === "string" &&
    LB_DESCRIPTION.test(description);
  return listener
    ? null
    : `ingress from ${world.join(", ")} on ports ${String(from)}-${String(to)}: only the load balancer's listeners (80, 443) may be open to the internet`;
}

function aliPorts(range: unknown): [number | undefined, number | undefined] {
  const m = /^(-?\d+)\/(-?\d+)$/.exec(String(range ?? ""));
  return m ? [Number(m[1]), Number(m[2])] : [undefined, undefined];
}

export const noWorldIngress: ResourceValidationPolicy = {
  name: "im-no-world-ingress",
  description: "No security group ingress from 0.0.0.0/0 except the load balancer's listeners.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const p: Props = args.props;
    const problems: Array<string | null> = [];
    switch (args.type) {
      case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        problems.push(worldIngressProblem([p.cidrIpv4, p.cidrIpv6], p.fromPort, p.toPort, p.description));
        break;
      case "aws:ec2/securityGroupRule:SecurityGroupRule":
        if (p.type === "ingress")
          problems.push(
            worldIngressProblem(
              [...list(p.cidrBlocks), ...list(p.ipv6CidrBlocks)],
              p.fromPort,
              p.toPort,
              p.description,
            ),
          );
        break;
      case "aws:ec2/securityGroup:SecurityGroup":
        for (const rule of list(p.ingress)) {
          problems.push(
            worldIngressProblem(
              [...list(at(rule, "cidrBlocks")), ...list(at(rule, "ipv6CidrBlocks"))],
              at(rule, "fromPort"),
              at(rule, "toPort"),
              at(rule, "description"),
            ),
          );
        }
        break;
      case "alicloud:ecs/securityGroupRule:SecurityGroupRule":
        if (p.type === "ingress" && (p.policy ?? "accept") === "accept")
          problems.push(worldIngressProblem([p.cidrIp, p.ipv6CidrIp], ...aliPorts(p.portRange), p.description));
        break;
      default:
        return;
    }
    for (const problem of problems) if (problem !== null) report(`${args.name}: ${problem}`);
  },
};

export const privateClusterApi: ResourceValidationPolicy = {
  name: "im-private-cluster-api",
  description: "A public Kubernetes API endpoint is limited to listed blocks, never 0.0.0.0/0.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type === "alicloud:cs/managedKubernetes:ManagedKubernetes") {
      // ACK's default (slbInternetEnabled unset) is a public API server SLB, and ACK owns that SLB's listener: no
      // argument of the cluster limits who reaches it, so a public ACK API would be open to every address.
      if (at(args.props, "slbInternetEnabled") !== false)
        report(
          `${args.name}: the API server has a public SLB (slbInternetEnabled ${String(at(args.props, "slbInternetEnabled") ?? "unset, default true")}) ` +
            "that no program argument can limit to listed blocks: set slbInternetEnabled false and reach the API from the VPC",
        );
      return;
    }
    if (args.type !== "aws:eks/cluster:Cluster") return;
    // AWS's default for an unset endpointPublicAccess is true, with publicAccessCidrs 0.0.0.0/0.
    if (at(args.props, "vpcConfig.endpointPublicAccess") === false) return;
    const cidrs = list(at(args.props, "vpcConfig.publicAccessCidrs"));
    const world = cidrs.filter((c) => typeof c === "string" && WORLD.has(c));
    if (cidrs.length === 0 || world.length > 0) {
      report(
        `${args.name}: the public API endpoint is open to ` +
          `${cidrs.length === 0 ? "0.0.0.0/0 (no publicAccessCidrs)" : world.join(", ")}: ` +
          "list the operators' blocks in clouds.aws.cluster.apiAccessCidrs, or none for a private endpoint",
      );
    }
  },
};

export const noPublicDataTier: ResourceValidationPolicy = {
  name: "im-no-public-data-tier",
  description: "The data tier (subnets, Redis, Kafka, backup buckets) has no public address or endpoint.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const p: Props = args.props;
    switch (args.type) {
      case "aws:ec2/subnet:Subnet":
        if (at(p, "tags.tier") === "data" && p.mapPublicIpOnLaunch === true)
          report(`${args.name}: a data subnet must not assign public IPs (mapPublicIpOnLaunch)`);
        break;
      case "aws:msk/cluster:Cluster": {
        const access = at(p, "brokerNodeGroupInfo.connectivityInfo.publicAccess.type");
        if (access !== undefined && access !== "DISABLED")
          report(`${args.name}: MSK public access is ${String(access)}; it must be DISABLED`);
        break;
      }
      case "alicloud:alikafka/instance:Instance":
        if (p.deployType !== 5)
          report(`${args.name}: deployType ${String(p.deployType)} adds a public endpoint; use 5 (VPC only)`);
        break;
      case "alicloud:kvstore/instance:Instance":
        if (list(p.securityIps).some((ip) => typeof ip === "string" && WORLD.has(ip)))
          report(`${args.name}: securityIps allow 0.0.0.0/0; allow the app segment only`);
        if (p.enablePublic === true) report(`${args.name}: enablePublic opens a public endpoint`);
        break;
      case "alicloud:oss/bucket:Bucket":
        if (p.acl !== undefined && p.acl !== "private")
          report(`${args.name}: bucket ACL ${String(p.acl)}; backups must be private`);
        break;
      case "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
        for (const flag of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]) {
          if (p[flag] !== true) report(`${args.name}: ${flag} must be true`);
        }
        break;
      default:
        return;
    }
  },
};

export const encryptionOn: ResourceValidationPolicy = {
  name: "im-encryption-on",
  description: "Encryption at rest and in transit wherever the resource offers it.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const p: Props = args.props;
    const need = (ok: boolean, what: string) => {
      if (!ok) report(`${args.name}: ${what}`);
    };
    switch (args.type) {
      case "aws:elasticache/replicationGroup:ReplicationGroup":
        need(p.atRestEncryptionEnabled === true, "atRestEncryptionEnabled must be true");
        need(p.transitEncryptionEnabled === true, "transitEncryptionEnabled must be true");
        break;
      case "aws:msk/cluster:Cluster":
        need(
          at(p, "encryptionInfo.encryptionInTransit.clientBroker") === "TLS",
          "encryptionInTransit.clientBroker must be TLS",
        );
        need(
          at(p, "encryptionInfo.encryptionInTransit.inCluster") !== false,
          "encryptionInTransit.inCluster must not be false",
        );
        break;
      case "aws:eks/cluster:Cluster":
        need(
          list(at(p, "encryptionConfig.resources")).includes("secrets"),
          "encryptionConfig must encrypt secrets with a KMS key",
        );
        break;
      case "aws:ec2/launchTemplate:LaunchTemplate":
        for (const m of list(p.blockDeviceMappings))
          need(String(at(m, "ebs.encrypted")) === "true", `volume ${String(at(m, "deviceName"))} must be encrypted`);
        break;
      case "aws:ebs/volume:Volume":
        need(p.encrypted === true, "encrypted must be true");
        break;
      case "alicloud:oss/bucket:Bucket":
        need(at(p, "serverSideEncryptionRule.sseAlgorithm") !== undefined, "serverSideEncryptionRule must be set");
        break;
      case "alicloud:kvstore/instance:Instance":
        need(p.sslEnable === "Enable", "sslEnable must be Enable");
        need(p.tdeStatus === "Enabled", "tdeStatus must be Enabled");
        break;
      case "alicloud:cs/managedKubernetes:ManagedKubernetes":
        need(
          typeof p.encryptionProviderKey === "string" && p.encryptionProviderKey !== "",
          "encryptionProviderKey must name a KMS key",
        );
        break;
      case "alicloud:cs/nodePool:NodePool":
        need(p.systemDiskEncrypted === true, "systemDiskEncrypted must be true");
        break;
      case "kubernetes:storage.k8s.io/v1:StorageClass":
        // The disk CSI drivers of both clouds take the same parameter.
        need(
          at(p, "parameters.encrypted") === "true",
          'parameters.encrypted must be "true" (volumes of this class would be stored in clear)',
        );
        break;
      default:
        return;
    }
  },
};

/** S3 buckets: encryption and the public access block are separate resources, so this is checked over the stack. */
export const s3BucketsGuarded: StackValidationPolicy = {
  name: "im-s3-buckets-guarded",
  description: "Every S3 bucket has a public access block and a server-side encryption configuration.",
  enforcementLevel: "mandatory",
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    const guards = (type: string) => args.resources.filter((r) => r.type === type);
    const covers = (guard: PolicyResource, bucket: PolicyResource) =>
      (guard.propertyDependencies?.bucket ?? []).some((d) => d.urn === bucket.urn) ||
      (guard.props.bucket !== undefined && guard.props.bucket === bucket.props.id);
    for (const bucket of args.resources.filter((r) => r.type === "aws:s3/bucket:Bucket")) {
      if (!guards("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").some((g) => covers(g, bucket)))
        report(`${bucket.name}: no BucketPublicAccessBlock`, bucket.urn);
      if (
        !guards("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").some((g) =>
          covers(g, bucket),
        )
      ) {
        report(`${bucket.name}: no BucketServerSideEncryptionConfiguration`, bucket.urn);
      }
    }
  },
};

/** Types the platform declares that take tags. Providers' default tags do not count: tags must be on the resource. */
export const TAGGABLE_TYPES: ReadonlySet<string> = new Set([
  "aws:ec2/vpc:Vpc",
  "aws:ec2/subnet:Subnet",
  "aws:ec2/internetGateway:InternetGateway",
  "aws:ec2/natGateway:NatGateway",
  "aws:ec2/eip:Eip",
  "aws:ec2/routeTable:RouteTable",
  "aws:ec2/securityGroup:SecurityGroup",
  "aws:ec2/vpcEndpoint:VpcEndpoint",
  "aws:ec2/launchTemplate:LaunchTemplate",
  "aws:ec2/customerGateway:CustomerGateway",
  "aws:ec2/vpnGateway:VpnGateway",
  "aws:ec2/vpnConnection:VpnConnection",
  "aws:eks/cluster:Cluster",
  "aws:eks/nodeGroup:NodeGroup",
  "aws:iam/role:Role",
  "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
  "aws:kms/key:Key",
  "aws:elasticache/replicationGroup:ReplicationGroup",
  "aws:elasticache/subnetGroup:SubnetGroup",
  "aws:msk/cluster:Cluster",
  "aws:s3/bucket:Bucket",
  "aws:ecr/repository:Repository",
  "alicloud:vpc/network:Network",
  "alicloud:vpc/switch:Switch",
  "alicloud:vpc/natGateway:NatGateway",
  "alicloud:vpc/routeTable:RouteTable",
  "alicloud:ecs/eipAddress:EipAddress",
  "alicloud:ecs/securityGroup:SecurityGroup",
  "alicloud:cs/managedKubernetes:ManagedKubernetes",
  "alicloud:cs/nodePool:NodePool",
  "alicloud:kms/key:Key",
  "alicloud:ram/role:Role",
  "alicloud:kvstore/instance:Instance",
  "alicloud:alikafka/instance:Instance",
  "alicloud:oss/bucket:Bucket",
  "alicloud:cr/registryEnterpriseInstance:RegistryEnterpriseInstance",
  "alicloud:vpn/gateway:Gateway",
  "alicloud:vpn/customerGateway:CustomerGateway",
  "alicloud:vpn/connection:Connection",
]);

export const requiredTags: ResourceValidationPolicy = {
  name: "im-required-tags",
  description: `Every taggable resource carries the tags ${REQUIRED_TAGS.join(", ")}.`,
  enforcementLevel: "mandatory",
  configSchema: {
    properties: { requiredTags: { type: "array", items: { type: "string" }, default: [...REQUIRED_TAGS] } },
  },
  validateResource: (args: ResourceValidationArgs, report) => {
    if (!TAGGABLE_TYPES.has(args.type)) return;
    const required = args.getConfig<{ requiredTags?: string[] }>().requiredTags ?? [...REQUIRED_TAGS];
    const tags = (args.props.tags ?? {}) as Record<string, unknown>;
    const missing = required.filter((k) => typeof tags[k] !== "string" || tags[k] === "");
    if (missing.length > 0) report(`${args.name}: missing tag(s) ${missing.join(", ")}`);
  },
};

export const statefulReplicas: ResourceValidationPolicy = {
  name: "im-stateful-replicas",
  description: "Every stateful component keeps at least two copies (a node or zone loss loses no data).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const p: Props = args.props;
    const atLeastTwo = (value: unknown, what: string) => {
      if (typeof value === "number" && value < 2) report(`${args.name}: ${what} is ${value}; at least 2 are needed`);
    };
    switch (args.type) {
      case "aws:elasticache/replicationGroup:ReplicationGroup":
        atLeastTwo(
          typeof p.replicasPerNodeGroup === "number" ? p.replicasPerNodeGroup + 1 : undefined,
          "copies per shard (1 + replicasPerNodeGroup)",
        );
        break;
      case "aws:msk/cluster:Cluster":
        atLeastTwo(p.numberOfBrokerNodes, "numberOfBrokerNodes");
        break;
      case "kubernetes:pingcap.com/v1alpha1:TidbCluster":
        for (const part of ["pd", "tikv", "tidb"]) atLeastTwo(at(p, `spec.${part}.replicas`), `spec.${part}.replicas`);
        break;
      case "kubernetes:apps/v1:StatefulSet":
      case "kubernetes:kafka.strimzi.io/v1beta2:KafkaNodePool":
        atLeastTwo(at(p, "spec.replicas"), "spec.replicas");
        break;
      default:
        return;
    }
  },
};

/**
 * The IM services' stable track runs at least two pods, spread over the zones: one can go (a node drain, a zone
 * outage, a rolling update) while another serves. With one, the PodDisruptionBudget either blocks every drain or
 * lets the drain take the only pod and every client connected to it. Canary tracks are exempt (0 or 1 by design).
 */
export const serviceReplicas: ResourceValidationPolicy = {
  name: "im-service-replicas",
  description: "Every IM service runs at least two stable replicas, so a drain or a zone loss leaves one serving.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type !== "kubernetes:apps/v1:Deployment") return;
    const labels = (at(args.props, "metadata.labels") ?? {}) as Record<string, unknown>;
    if (labels["app.kubernetes.io/part-of"] !== "im-platform" || labels["im/track"] !== "stable") return;
    const replicas = at(args.props, "spec.replicas");
    if (typeof replicas === "number" && replicas < 2)
      report(`${args.name}: spec.replicas is ${replicas}; at least 2 (services.<service>.replicas in the stack file)`);
  },
};

/** Workload kinds whose pod template sits at spec.template.spec (a CronJob's one level deeper). */
const POD_TEMPLATE_PATHS: Readonly<Record<string, string>> = {
  "kubernetes:apps/v1:Deployment": "spec.template.spec",
  "kubernetes:apps/v1:StatefulSet": "spec.template.spec",
  "kubernetes:apps/v1:DaemonSet": "spec.template.spec",
  "kubernetes:apps/v1:ReplicaSet": "spec.template.spec",
  "kubernetes:batch/v1:Job": "spec.template.spec",
  "kubernetes:batch/v1:CronJob": "spec.jobTemplate.spec.template.spec",
  "kubernetes:core/v1:Pod": "spec",
};

export const podSecurityRestricted: ResourceValidationPolicy = {
  name: "im-pod-security-restricted",
  description:
    "Every pod template passes the Pod Security restricted level (non-root, seccomp, no escalation, no capabilities).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const path = POD_TEMPLATE_PATHS[args.type];
    if (path === undefined) return;
    for (const problem of podSecurityProblems(at(args.props, path))) report(`${args.name}: ${problem}`);
  },
};

export const POLICIES: ReadonlyArray<ResourceValidationPolicy | StackValidationPolicy> = [
  noPublicDataTier,
  encryptionOn,
  s3BucketsGuarded,
  noWorldIngress,
  privateClusterApi,
  requiredTags,
  statefulReplicas,
  serviceReplicas,
  podSecurityRestricted,
  claimsNameStorageClass,
  operatorCrdFields,
  edgeTls,
  dataTierAuth,
  dataNamespaceIsolated,
];
