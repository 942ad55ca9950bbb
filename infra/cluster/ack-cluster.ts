/**
 * An ACK Pro cluster with Terway (pods take addresses from the private vSwitches, like EKS's VPC CNI), secrets
 * encrypted with a KMS key, an autoscaled app node pool and a tainted data node pool on encrypted ESSD disks, and a
 * Kubernetes provider for everything deployed into it.
 * Both pools sit in the private vSwitches of the app VPC: ACK node pools and Terway's pod vSwitches must be
 * vSwitches of the cluster's VPC, so the data pool's pods cannot take addresses in the data VPC. The data VPC holds
 * Tair and ApsaraMQ; the in-cluster data tier is kept apart by the taint and by NetworkPolicies.
 */
import * as alicloud from "@pulumi/alicloud";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DATA_TAINT, type NodeGroupSize } from "./eks-cluster.ts";
import { newestPatch, unofferedVersion } from "../lib/kubernetes-version.ts";
import type { WorkloadIdentity } from "./workload-role.ts";

export interface AckClusterArgs {
  /** Kubernetes minor version ("1.31"): the cluster is created at ACK's newest offered patch of it. */
  version: string;
  serviceCidr: string;
  /** vSwitches of the app VPC: nodes and pods (Terway). */
  privateVswitchIds: pulumi.Input<string>[];
  /** The app tier's security group (app VPC), on the cluster and every node. */
  appSecurityGroupId: pulumi.Input<string>;
  nodeGroups: { app: NodeGroupSize; data: NodeGroupSize };
  tags: Record<string, string>;
}

export class AckCluster extends pulumi.ComponentResource {
  readonly clusterId: pulumi.Output<string>;
  readonly provider: k8s.Provider;
  /** RRSA: what a WorkloadRole trusts so that one service account's pods get its permissions. */
  readonly workloadIdentity: WorkloadIdentity;

  constructor(name: string, args: AckClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:cluster:AckCluster", name, {}, opts);
    const child = { parent: this };

    const secretsKey = new alicloud.kms.Key(
      `${name}-secrets`,
      {
        description: `${name}: Kubernetes secrets encryption`,
        automaticRotation: "Enabled",
        rotationInterval: "365d",
        tags: args.tags,
      },
      child,
    );
    // The stack's minor at ACK's newest offered patch; later patches and upgrades go through ACK, not Pulumi.
    const offered = alicloud.cs.getKubernetesVersionOutput(
      { clusterType: "ManagedKubernetes", profile: "Default" },
      child,
    );
    const version = offered.metadatas.apply((m) => {
      const versions = m.map((x) => x.version);
      const chosen = newestPatch(args.version, versions);
      if (chosen === undefined)
        throw new Error(unofferedVersion("clouds.alicloud.cluster.version", args.version, versions));
      return chosen;
    });
    const cluster = new alicloud.cs.ManagedKubernetes(
      name,
      {
        name,
        version,
        clusterSpec: "ack.pro.small",
        vswitchIds: args.privateVswitchIds,
        podVswitchIds: args.privateVswitchIds,
        serviceCidr: args.serviceCidr,
        newNatGateway: false,
        // Never a public API server: ACK creates that SLB and its listener itself, and no argument of this resource
        // limits the listener to listed blocks, so "public" would mean open to every address (the provider's default
        // is true). The spec refuses clouds.alicloud.cluster.apiAccessCidrs; operators and `pulumi up` reach the
        // API from the VPC (a runner in it, the VPN, a bastion). Policy im-private-cluster-api holds this.
        slbInternetEnabled: false,
        securityGroupId: args.appSecurityGroupId,
        encryptionProviderKey: secretsKey.id,
        deletionProtection: true,
        // RRSA: pods assume RAM roles with their service account's token (the webhook injects it where a namespace
        // opts in), so no AccessKey is stored in the cluster.
        enableRrsa: true,
        addons: [
          { name: "terway-eniip" },
          { name: "csi-plugin" },
          { name: "csi-provisioner" },
          { name: "ack-pod-identity-webhook" },
          // The metrics API the services' HPAs read CPU from (ACK installs it by default; named so it stays).
          { name: "metrics-server" },
        ],
        tags: args.tags,
      },
      { parent: this, ignoreChanges: ["version"] },
    );

    const pool = (
      tier: "app" | "data",
      size: NodeGroupSize,
      vswitchIds: pulumi.Input<string>[],
      groupId: pulumi.Input<string>,
    ) =>
      new alicloud.cs.NodePool(
        `${name}-${tier}`,
        {
          clusterId: cluster.id,
          nodePoolName: `${name}-${tier}`,
          vswitchIds,
          instanceTypes: [size.instanceType],
          scalingConfig: { enable: true, minSize: size.min, maxSize: size.max },
          // An autoscaled pool would otherwise start at minSize: ask for the spec's desired count at creation (the
          // spec keeps it within [min, max]); from then on ACK's autoscaler owns the count, so it is never reset.
          desiredSize: String(size.desired),
          systemDiskCategory: "cloud_essd",
          systemDiskSize: 100,
          systemDiskEncrypted: true,
          securityGroupIds: [groupId],
          labels: [{ key: DATA_TAINT.key, value: tier }],
          taints: tier === "data" ? [{ key: DATA_TAINT.key, value: DATA_TAINT.value, effect: "NoSchedule" }] : [],
          tags: { ...args.tags, tier },
        },
        { ...child, ignoreChanges: ["desiredSize"] },
      );
    const appNodes = pool("app", args.nodeGroups.app, args.privateVswitchIds, args.appSecurityGroupId);
    const dataNodes = pool("data", args.nodeGroups.data, args.privateVswitchIds, args.appSecurityGroupId);

    // ACK's node autoscaling: the cluster autoscaler grows the pools (scalingConfig.enable) up to their max when pods
    // are pending, e.g. when the HPAs reach their ceilings, and removes nodes below half use after 10 minutes.
    new alicloud.cs.AutoscalingConfig(
      `${name}-autoscaling`,
      {
        clusterId: cluster.id,
        scalerType: "cluster-autoscaler",
        expander: "least-waste",
        scaleDownEnabled: true,
        utilizationThreshold: "0.5",
        unneededDuration: "10m",
        skipNodesWithSystemPods: false,
      },
      { parent: this, dependsOn: [appNodes, dataNodes] },
    );
    const credential = alicloud.cs.getClusterCredentialOutput(
      { clusterId: cluster.id, temporaryDurationMinutes: 4320 },
      child,
    );
    this.clusterId = cluster.id;
    this.workloadIdentity = {
      kind: "rrsa",
      oidcProviderArn: cluster.rrsaMetadata.ramOidcProviderArn,
      issuerUrl: cluster.rrsaMetadata.rrsaOidcIssuerUrl,
    };
    this.provider = new k8s.Provider(
      `${name}-k8s`,
      { kubeconfig: credential.kubeConfig, enableServerSideApply: true },
      { parent: this, dependsOn: [appNodes, dataNodes] },
    );
    this.registerOutputs({ clusterId: this.clusterId });
  }
}
