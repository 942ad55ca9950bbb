/**
 * Autoscaling that acts on EKS: metrics-server, so the services' HorizontalPodAutoscalers (80 % CPU) read CPU at all
 * (EKS installs no metrics pipeline; without it every HPA reports `<unknown>` and never scales), and the Cluster
 * Autoscaler, so the pods the HPAs add up to their ceilings get nodes (the node groups' `max`; infra/lib/sizing.ts
 * checks that the ceilings fit). The autoscaler finds the managed node groups by the tags EKS puts on their Auto
 * Scaling groups (k8s.io/cluster-autoscaler/enabled and k8s.io/cluster-autoscaler/<cluster>), runs with its own IRSA
 * role, and may change the size only of groups carrying those tags.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { WorkloadRole, type PolicyStatement, type WorkloadIdentity } from "./workload-role.ts";

export interface EksAutoscalingArgs {
  clusterName: pulumi.Input<string>;
  region: string;
  /** The cluster's Kubernetes minor version ("1.31"): the Cluster Autoscaler's minor must match it. */
  kubernetesVersion: string;
  identity: WorkloadIdentity;
  provider: k8s.Provider;
  tags: Record<string, string>;
}

/** Pinned (not checked against the registry from here: docs/cloud-stacks.md, "Pins"). */
export const METRICS_SERVER_CHART_VERSION = "3.12.2";
export const CLUSTER_AUTOSCALER_CHART_VERSION = "9.43.2";
export const CLUSTER_AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler";

/**
 * The Cluster Autoscaler release for a cluster version: the project publishes v<minor>.0 for every Kubernetes minor
 * and supports only its own minor, so the image follows the cluster rather than the chart's default.
 */
export function clusterAutoscalerImageTag(kubernetesVersion: string): string {
  if (!/^1\.\d{2}$/.test(kubernetesVersion))
    throw new RangeError(`kubernetesVersion: got ${JSON.stringify(kubernetesVersion)}; expected a minor such as 1.31`);
  return `v${kubernetesVersion}.0`;
}

export class EksAutoscaling extends pulumi.ComponentResource {
  constructor(name: string, args: EksAutoscalingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:cluster:EksAutoscaling", name, {}, opts);
    const on = { parent: this, provider: args.provider };
    const appNodes = { "im/tier": "app" };
    new k8s.helm.v3.Release(
      `${name}-metrics-server`,
      {
        chart: "metrics-server",
        version: METRICS_SERVER_CHART_VERSION,
        repositoryOpts: { repo: "https://kubernetes-sigs.github.io/metrics-server/" },
        namespace: "kube-system",
        values: {
          replicas: 2,
          nodeSelector: appNodes,
          podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
        },
      },
      on,
    );
    const role = new WorkloadRole(
      `${name}-cluster-autoscaler`,
      {
        identity: args.identity,
        namespace: "kube-system",
        serviceAccount: CLUSTER_AUTOSCALER_SERVICE_ACCOUNT,
        statements: AUTOSCALER_STATEMENTS,
        tags: args.tags,
      },
      { parent: this },
    );
    new k8s.helm.v3.Release(
      `${name}-cluster-autoscaler`,
      {
        chart: "cluster-autoscaler",
        version: CLUSTER_AUTOSCALER_CHART_VERSION,
        repositoryOpts: { repo: "https://kubernetes.github.io/autoscaler" },
        namespace: "kube-system",
        values: {
          cloudProvider: "aws",
          awsRegion: args.region,
          autoDiscovery: { clusterName: args.clusterName },
          image: { tag: clusterAutoscalerImageTag(args.kubernetesVersion) },
          rbac: {
            serviceAccount: { create: true, name: CLUSTER_AUTOSCALER_SERVICE_ACCOUNT, annotations: role.annotations },
          },
          nodeSelector: appNodes,
          extraArgs: {
            // The app and data groups span three zones each: keep their zones even as they grow.
            "balance-similar-node-groups": "true",
            expander: "least-waste",
            "skip-nodes-with-system-pods": "false",
          },
        },
      },
      on,
    );
    this.registerOutputs({});
  }
}

const AUTOSCALER_STATEMENTS: PolicyStatement[] = [
  {
    Effect: "Allow",
    Action: [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
      "eks:DescribeNodegroup",
    ],
    Resource: ["*"],
  },
  // Only the groups EKS tagged for the autoscaler (every managed node group of the cluster).
  {
    Effect: "Allow",
    Action: ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
    Resource: ["*"],
    Condition: { StringEquals: { "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true" } },
  },
];
