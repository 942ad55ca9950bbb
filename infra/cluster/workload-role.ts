/**
 * A cloud role that exactly one Kubernetes service account may assume, with no key stored anywhere: IRSA on EKS (an
 * IAM role trusting the cluster's OIDC provider), RRSA on ACK (a RAM role trusting the cluster's RAM OIDC provider).
 * The trust is pinned to `system:serviceaccount:<namespace>:<name>` and the audience, so no other pod can take it.
 * `annotations` go on that service account; the permissions are the statements the caller passes.
 */
import * as alicloud from "@pulumi/alicloud";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** How a cluster's pods prove who they are to the cloud (EksCluster.workloadIdentity, AckCluster.workloadIdentity). */
export type WorkloadIdentity =
  | {
      kind: "irsa";
      oidcProviderArn: pulumi.Input<string>;
      /** The issuer URL without https:// */ issuerHost: pulumi.Input<string>;
    }
  | { kind: "rrsa"; oidcProviderArn: pulumi.Input<string>; issuerUrl: pulumi.Input<string> };

/** One permission statement, in the shape both IAM and RAM policies use. */
export interface PolicyStatement {
  Effect: "Allow";
  Action: string[];
  Resource: pulumi.Input<string>[];
  Condition?: Record<string, Record<string, pulumi.Input<string | string[]>>>;
}

export interface WorkloadRoleArgs {
  identity: WorkloadIdentity;
  namespace: string;
  serviceAccount: string;
  statements: PolicyStatement[];
  /** AWS only: managed policies to attach as well (e.g. a driver's AWS-maintained policy). Default none. */
  managedPolicyArns?: string[];
  tags: Record<string, string>;
}

/** The audiences the clouds' token exchanges expect. */
export const IRSA_AUDIENCE = "sts.amazonaws.com";
export const RRSA_AUDIENCE = "sts.aliyuncs.com";

export class WorkloadRole extends pulumi.ComponentResource {
  readonly roleArn: pulumi.Output<string>;
  /** Annotations for the service account (eks.amazonaws.com/role-arn or pod-identity.alibabacloud.com/role-name). */
  readonly annotations: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: WorkloadRoleArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:cluster:WorkloadRole", name, {}, opts);
    const subject = `system:serviceaccount:${args.namespace}:${args.serviceAccount}`;
    const id = args.identity;
    if (id.kind === "irsa") {
      const trust = pulumi.all([id.oidcProviderArn, id.issuerHost]).apply(([provider, host]) =>
        JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Principal: { Federated: provider },
              Action: "sts:AssumeRoleWithWebIdentity",
              Condition: { StringEquals: { [`${host}:sub`]: subject, [`${host}:aud`]: IRSA_AUDIENCE } },
            },
          ],
        }),
      );
      const role = new aws.iam.Role(
        name,
        { assumeRolePolicy: trust, description: `IRSA: ${subject}`, tags: args.tags },
        { parent: this },
      );
      if (args.statements.length > 0)
        new aws.iam.RolePolicy(
          `${name}-permissions`,
          { role: role.id, policy: policyDocument("2012-10-17", args.statements) },
          { parent: this },
        );
      for (const arn of args.managedPolicyArns ?? []) {
        new aws.iam.RolePolicyAttachment(
          `${name}-${arn.split("/").pop() ?? "policy"}`,
          { role: role.name, policyArn: arn },
          { parent: this },
        );
      }
      this.roleArn = role.arn;
      this.annotations = role.arn.apply((arn): Record<string, string> => ({ "eks.amazonaws.com/role-arn": arn }));
    } else {
      const trust = pulumi.all([id.oidcProviderArn, id.issuerUrl]).apply(([provider, issuer]) =>
        JSON.stringify({
          Version: "1",
          Statement: [
            {
              Effect: "Allow",
              Principal: { Federated: [provider] },
              Action: "sts:AssumeRole",
              Condition: { StringEquals: { "oidc:iss": issuer, "oidc:aud": RRSA_AUDIENCE, "oidc:sub": subject } },
            },
          ],
        }),
      );
      // RAM names are account-wide: the stack's name keeps two stacks in one account apart. 52 characters leave room
      // for the policy's "-permissions" within RAM's 64.
      const ramName = `${pulumi.getStack().slice(0, 30)}-${name}`.slice(0, 52);
      const role = new alicloud.ram.Role(
        name,
        { roleName: ramName, assumeRolePolicyDocument: trust, description: `RRSA: ${subject}`, tags: args.tags },
        { parent: this },
      );
      const policy = new alicloud.ram.Policy(
        `${name}-permissions`,
        { policyName: `${ramName}-permissions`, policyDocument: policyDocument("1", args.statements) },
        { parent: this },
      );
      new alicloud.ram.RolePolicyAttachment(
        `${name}-attachment`,
        { roleName: role.roleName, policyName: policy.policyName, policyType: "Custom" },
        { parent: this },
      );
      this.roleArn = role.arn;
      this.annotations = role.roleName.apply((roleName): Record<string, string> => ({
        "pod-identity.alibabacloud.com/role-name": roleName,
      }));
    }
    this.registerOutputs({ roleArn: this.roleArn });
  }
}

function policyDocument(version: string, statements: PolicyStatement[]): pulumi.Output<string> {
  return pulumi.output(statements).apply((resolved) => JSON.stringify({ Version: version, Statement: resolved }));
}
