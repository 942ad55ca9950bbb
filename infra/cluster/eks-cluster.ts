/**
 * An EKS cluster in the private subnets: secrets encrypted with a KMS key, control-plane audit logs on, an app node
 * group and a tainted data node group (TiDB, in-cluster Redis and Kafka) in the private subnets of the app VPC
 * (encrypted disks, IMDSv2), and a Kubernetes provider for everything deployed into it.
 * The data node group is not in the data VPC: EKS places nodes only in subnets of the cluster's VPC, and the VPC CNI
 * gives pods addresses from the node's VPC. The data VPC holds the managed services; the in-cluster data tier is
 * kept apart by the taint and by NetworkPolicies.
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { IRSA_AUDIENCE, WorkloadRole, type WorkloadIdentity } from "./workload-role.ts";

export interface NodeGroupSize {
  instanceType: string;
  min: number;
  desired: number;
  max: number;
}

export interface EksClusterArgs {
  region: string;
  /** Kubernetes minor version, e.g. "1.31". */
  version: string;
  serviceCidr: string;
  /** Who may reach the API endpoint from the internet; empty (the default) keeps it private to the VPC. */
  apiAccessCidrs?: readonly string[];
  /** Subnets of the app VPC: the control plane's interfaces and both node groups. */
  privateSubnetIds: pulumi.Input<string>[];
  /** The app tier's security group (app VPC), on every node. */
  appSecurityGroupId: pulumi.Input<string>;
  nodeGroups: { app: NodeGroupSize; data: NodeGroupSize };
  tags: Record<string, string>;
}

/** The taint that keeps everything but the data tier off the data nodes. */
export const DATA_TAINT = { key: "im/tier", value: "data" } as const;

const MANAGED_POLICY = "arn:aws:iam::aws:policy";

export class EksCluster extends pulumi.ComponentResource {
  readonly clusterName: pulumi.Output<string>;
  readonly kubeconfig: pulumi.Output<string>;
  readonly provider: k8s.Provider;
  /** IRSA: what a WorkloadRole trusts so that one service account's pods get its permissions. */
  readonly workloadIdentity: WorkloadIdentity;
  /** The EBS CSI driver: persistent volumes (the data tier's disks) are provisioned through it. */
  readonly storageDriver: aws.eks.Addon;

  constructor(name: string, args: EksClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:cluster:EksCluster", name, {}, opts);
    const child = { parent: this };
    const tags = { ...args.tags, Name: name };

    const secretsKey = new aws.kms.Key(
      `${name}-secrets`,
      { description: `${name}: Kubernetes secrets envelope encryption`, enableKeyRotation: true, tags },
      child,
    );
    const clusterRole = new aws.iam.Role(
      `${name}-cluster`,
      { assumeRolePolicy: assumeRole("eks.amazonaws.com"), tags },
      child,
    );
    const clusterPolicy = new aws.iam.RolePolicyAttachment(
      `${name}-cluster-policy`,
      { role: clusterRole.name, policyArn: `${MANAGED_POLICY}/AmazonEKSClusterPolicy` },
      child,
    );

    const cluster = new aws.eks.Cluster(
      name,
      {
        roleArn: clusterRole.arn,
        version: args.version,
        // The API endpoint is always reachable from the VPC; from the internet only for the listed blocks (AWS would
        // default an enabled public endpoint to 0.0.0.0/0, so it is off unless the stack lists who may reach it).
        vpcConfig: {
          subnetIds: args.privateSubnetIds,
          endpointPrivateAccess: true,
          ...publicEndpoint(args.apiAccessCidrs ?? []),
        },
        kubernetesNetworkConfig: { serviceIpv4Cidr: args.serviceCidr },
        encryptionConfig: { provider: { keyArn: secretsKey.arn }, resources: ["secrets"] },
        enabledClusterLogTypes: ["api", "audit", "authenticator"],
        accessConfig: { authenticationMode: "API_AND_CONFIG_MAP" },
        tags,
      },
      { parent: this, dependsOn: [clusterPolicy] },
    );

    // IRSA: pods assume IAM roles with their service account's token; no node-wide or stored credentials.
    const issuer = cluster.identities.apply((ids) => ids[0]?.oidcs?.[0]?.issuer ?? "");
    const oidc = new aws.iam.OpenIdConnectProvider(
      `${name}-oidc`,
      { url: issuer, clientIdLists: [IRSA_AUDIENCE], tags },
      child,
    );
    this.workloadIdentity = {
      kind: "irsa",
      oidcProviderArn: oidc.arn,
      issuerHost: issuer.apply((u) => u.replace(/^https:\/\//, "")),
    };

    const nodeRole = new aws.iam.Role(
      `${name}-node`,
      { assumeRolePolicy: assumeRole("ec2.amazonaws.com"), tags },
      child,
    );
    const nodePolicies = [
      "AmazonEKSWorkerNodePolicy",
      "AmazonEKS_CNI_Policy",
      "AmazonEC2ContainerRegistryReadOnly",
    ].map(
      (policy) =>
        new aws.iam.RolePolicyAttachment(
          `${name}-node-${policy}`,
          { role: nodeRole.name, policyArn: `${MANAGED_POLICY}/${policy}` },
          child,
        ),
    );

    const group = (
      tier: "app" | "data",
      size: NodeGroupSize,
      subnetIds: pulumi.Input<string>[],
      tierGroupId: pulumi.Input<string>,
    ) => {
      const template = new aws.ec2.LaunchTemplate(
        `${name}-${tier}`,
        {
          // The cluster's own group lets the control plane reach the kubelets; the tier's group sets what else may.
          vpcSecurityGroupIds: [cluster.vpcConfig.clusterSecurityGroupId, tierGroupId],
          metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 2, httpEndpoint: "enabled" },
          blockDeviceMappings: [
            {
              deviceName: "/dev/xvda",
              ebs: { volumeSize: 100, volumeType: "gp3", encrypted: "true", deleteOnTermination: "true" },
            },
          ],
          tagSpecifications: [
            { resourceType: "instance", tags: { ...tags, tier } },
            { resourceType: "volume", tags: { ...tags, tier } },
          ],
          tags: { ...tags, tier },
        },
        child,
      );
      return new aws.eks.NodeGroup(
        `${name}-${tier}`,
        {
          clusterName: cluster.name,
          nodeRoleArn: nodeRole.arn,
          subnetIds,
          instanceTypes: [size.instanceType],
          scalingConfig: { minSize: size.min, desiredSize: size.desired, maxSize: size.max },
          launchTemplate: { id: template.id, version: pulumi.interpolate`${template.latestVersion}` },
          labels: { [DATA_TAINT.key]: tier },
          taints: tier === "data" ? [{ key: DATA_TAINT.key, value: DATA_TAINT.value, effect: "NO_SCHEDULE" }] : [],
          updateConfig: { maxUnavailable: 1 },
          tags: { ...tags, tier },
        },
        // The cluster autoscaler moves the desired size; Pulumi sets it once.
        { parent: this, dependsOn: nodePolicies, ignoreChanges: ["scalingConfig.desiredSize"] },
      );
    };
    const appNodes = group("app", args.nodeGroups.app, args.privateSubnetIds, args.appSecurityGroupId);
    const dataNodes = group("data", args.nodeGroups.data, args.privateSubnetIds, args.appSecurityGroupId);

    // Since Kubernetes 1.23 EBS volumes are provisioned only by the CSI driver; it runs with its own IRSA role.
    const ebsRole = new WorkloadRole(
      `${name}-ebs-csi`,
      {
        identity: this.workloadIdentity,
        namespace: "kube-system",
        serviceAccount: "ebs-csi-controller-sa",
        statements: [],
        managedPolicyArns: [`${MANAGED_POLICY}/service-role/AmazonEBSCSIDriverPolicy`],
        tags,
      },
      child,
    );
    this.storageDriver = new aws.eks.Addon(
      `${name}-ebs-csi`,
      {
        clusterName: cluster.name,
        addonName: "aws-ebs-csi-driver",
        serviceAccountRoleArn: ebsRole.roleArn,
        resolveConflictsOnCreate: "OVERWRITE",
        tags,
      },
      { parent: this, dependsOn: [appNodes, dataNodes] },
    );
    // EKS's VPC CNI ignores NetworkPolicies unless its network policy agent is on: the data namespace's default deny
    // (infra/data/data-network-policies.ts) must be enforced, not merely declared.
    new aws.eks.Addon(
      `${name}-vpc-cni`,
      {
        clusterName: cluster.name,
        addonName: "vpc-cni",
        configurationValues: JSON.stringify({ enableNetworkPolicy: "true" }),
        resolveConflictsOnCreate: "OVERWRITE",
        resolveConflictsOnUpdate: "OVERWRITE",
        tags,
      },
      { parent: this, dependsOn: [appNodes, dataNodes] },
    );
    this.clusterName = cluster.name;
    this.kubeconfig = pulumi
      .all([cluster.name, cluster.endpoint, cluster.certificateAuthority.data])
      .apply(([clusterName, endpoint, ca]) => eksKubeconfig(clusterName, endpoint, ca, args.region));
    this.provider = new k8s.Provider(
      `${name}-k8s`,
      { kubeconfig: this.kubeconfig, enableServerSideApply: true },
      { parent: this, dependsOn: [appNodes, dataNodes] },
    );
    this.registerOutputs({ clusterName: this.clusterName, kubeconfig: pulumi.secret(this.kubeconfig) });
  }
}

function publicEndpoint(cidrs: readonly string[]): { endpointPublicAccess: boolean; publicAccessCidrs?: string[] } {
  return cidrs.length === 0
    ? { endpointPublicAccess: false }
    : { endpointPublicAccess: true, publicAccessCidrs: [...cidrs] };
}

function assumeRole(service: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
  });
}

/** A kubeconfig that gets a short-lived token from the AWS CLI, so no credential is stored in the state. */
export function eksKubeconfig(clusterName: string, endpoint: string, caData: string, region: string): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: clusterName, cluster: { server: endpoint, "certificate-authority-data": caData } }],
    contexts: [{ name: clusterName, context: { cluster: clusterName, user: clusterName } }],
    "current-context": clusterName,
    users: [
      {
        name: clusterName,
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1beta1",
            command: "aws",
            args: ["eks", "get-token", "--cluster-name", clusterName, "--region", region],
          },
        },
      },
    ],
  });
}
