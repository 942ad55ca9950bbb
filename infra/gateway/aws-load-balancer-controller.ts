/**
 * The AWS Load Balancer Controller (Helm, IRSA): it turns Traefik's `type: LoadBalancer` Service into a
 * Network Load Balancer with IP targets (traffic goes straight to the pods, WebSocket connections survive a node
 * drain), behind the lb security group. The in-tree cloud provider would build the NLB too, but with instance targets
 * and none of the controller's attributes (security groups on the NLB, target health, cross-zone).
 *
 * The role grants what the controller does for NLB Services (describe the network, manage load balancers, target
 * groups, listeners and their tags, and the ingress rules it adds for health checks), with every mutating action
 * limited to resources carrying the controller's cluster tag where the API allows the condition. No ALB, WAF,
 * Shield or Cognito rights: the platform uses no Ingress handled by this controller.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { WorkloadRole, type PolicyStatement, type WorkloadIdentity } from "../cluster/workload-role.ts";

export interface AwsLoadBalancerControllerArgs {
  clusterName: pulumi.Input<string>;
  region: string;
  vpcId: pulumi.Input<string>;
  identity: WorkloadIdentity;
  provider: k8s.Provider;
  tags: Record<string, string>;
}

/** Pinned: chart 1.14.0 runs controller v2.14.0. */
export const AWS_LBC_CHART_VERSION = "1.14.0";
export const AWS_LBC_NAMESPACE = "kube-system";
export const AWS_LBC_SERVICE_ACCOUNT = "aws-load-balancer-controller";
/** The tag the controller puts on everything it creates for a Service. */
const CLUSTER_TAG = "elbv2.k8s.aws/cluster";

export class AwsLoadBalancerController extends pulumi.ComponentResource {
  readonly release: k8s.helm.v3.Release;

  constructor(name: string, args: AwsLoadBalancerControllerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:gateway:AwsLoadBalancerController", name, {}, opts);
    const role = new WorkloadRole(
      `${name}-role`,
      {
        identity: args.identity,
        namespace: AWS_LBC_NAMESPACE,
        serviceAccount: AWS_LBC_SERVICE_ACCOUNT,
        statements: LBC_STATEMENTS,
        tags: args.tags,
      },
      { parent: this },
    );
    this.release = new k8s.helm.v3.Release(
      name,
      {
        chart: "aws-load-balancer-controller",
        version: AWS_LBC_CHART_VERSION,
        repositoryOpts: { repo: "https://aws.github.io/eks-charts" },
        namespace: AWS_LBC_NAMESPACE,
        values: {
          clusterName: args.clusterName,
          region: args.region,
          vpcId: args.vpcId,
          replicaCount: 2,
          serviceAccount: { create: true, name: AWS_LBC_SERVICE_ACCOUNT, annotations: role.annotations },
          nodeSelector: { "im/tier": "app" },
          // Only Services that ask for it (Traefik's, aws-load-balancer-type: external) get an NLB from here.
          enableServiceMutatorWebhook: false,
          podDisruptionBudget: { maxUnavailable: 1 },
        },
      },
      { parent: this, provider: args.provider },
    );
    this.registerOutputs({ releaseName: this.release.name });
  }
}

const tagged = { Null: { [`aws:ResourceTag/${CLUSTER_TAG}`]: "false" } };

const LBC_STATEMENTS: PolicyStatement[] = [
  {
    Effect: "Allow",
    Action: [
      "ec2:DescribeAccountAttributes",
      "ec2:DescribeAddresses",
      "ec2:DescribeAvailabilityZones",
      "ec2:DescribeInternetGateways",
      "ec2:DescribeVpcs",
      "ec2:DescribeSubnets",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeInstances",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeTags",
      "elasticloadbalancing:DescribeLoadBalancers",
      "elasticloadbalancing:DescribeLoadBalancerAttributes",
      "elasticloadbalancing:DescribeListeners",
      "elasticloadbalancing:DescribeListenerAttributes",
      "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeTargetGroupAttributes",
      "elasticloadbalancing:DescribeTargetHealth",
      "elasticloadbalancing:DescribeTags",
      "acm:ListCertificates",
      "acm:DescribeCertificate",
    ],
    Resource: ["*"],
  },
  // Health-check and traffic rules the controller adds to the nodes' and the lb group.
  { Effect: "Allow", Action: ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"], Resource: ["*"] },
  // A new load balancer or target group must carry the cluster tag from the start.
  {
    Effect: "Allow",
    Action: ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
    Resource: ["*"],
    Condition: { Null: { [`aws:RequestTag/${CLUSTER_TAG}`]: "false" } },
  },
  {
    Effect: "Allow",
    Action: ["elasticloadbalancing:AddTags"],
    Resource: ["*"],
    Condition: { StringEquals: { "elasticloadbalancing:CreateAction": ["CreateLoadBalancer", "CreateTargetGroup"] } },
  },
  {
    Effect: "Allow",
    Action: [
      "elasticloadbalancing:ModifyLoadBalancerAttributes",
      "elasticloadbalancing:SetIpAddressType",
      "elasticloadbalancing:SetSecurityGroups",
      "elasticloadbalancing:SetSubnets",
      "elasticloadbalancing:DeleteLoadBalancer",
      "elasticloadbalancing:ModifyTargetGroup",
      "elasticloadbalancing:ModifyTargetGroupAttributes",
      "elasticloadbalancing:DeleteTargetGroup",
      "elasticloadbalancing:RegisterTargets",
      "elasticloadbalancing:DeregisterTargets",
      "elasticloadbalancing:AddTags",
      "elasticloadbalancing:RemoveTags",
    ],
    Resource: ["*"],
    Condition: tagged,
  },
  // Listeners inherit their load balancer's ownership; the API takes no tag condition on them.
  {
    Effect: "Allow",
    Action: [
      "elasticloadbalancing:CreateListener",
      "elasticloadbalancing:DeleteListener",
      "elasticloadbalancing:ModifyListener",
      "elasticloadbalancing:ModifyListenerAttributes",
    ],
    Resource: ["*"],
  },
];
