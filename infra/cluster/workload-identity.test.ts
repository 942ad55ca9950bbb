import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { decodeSecretData } from "./secret-data.ts";
import { REPO_ROOT } from "../../base/root.mjs";
import { loadSpec, requireKubernetes, type KubernetesPlatformSpec } from "../lib/spec.ts";
import { ofType, one, runWithMocks, type RecordedResource } from "../mocks.ts";
import { deployPlatform } from "../platform.ts";

const stack = (name: string): KubernetesPlatformSpec =>
  requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", `${name}.yaml`)), name);
const input = (r: RecordedResource, path: string): any => path.split(".").reduce<any>((v, k) => v?.[k], r.inputs);
const json = (r: RecordedResource, path: string): any => JSON.parse(input(r, path));
const ISSUER = "oidc.eks.mock-region.amazonaws.com/id/AWS-EKS";

describe("workload identity on both clouds (stacks/multicloud.yaml)", () => {
  let rs: RecordedResource[];
  before(async () => {
    rs = (await runWithMocks("multicloud", () => deployPlatform(stack("multicloud")))).resources;
  });

  it("registers the EKS cluster's OIDC issuer for IRSA and turns RRSA on in ACK", () => {
    const oidc = one(rs, "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "aws-eks-oidc");
    assert.equal(input(oidc, "url"), `https://${ISSUER}`);
    assert.deepEqual(input(oidc, "clientIdLists"), ["sts.amazonaws.com"]);
    const ack = one(rs, "alicloud:cs/managedKubernetes:ManagedKubernetes", "alicloud-ack");
    assert.equal(input(ack, "enableRrsa"), true);
    assert.ok(input(ack, "addons").some((a: { name: string }) => a.name === "ack-pod-identity-webhook"));
  });

  it("lets only the TiDB backup service account assume the S3 backup role, for that bucket only", () => {
    const role = one(rs, "aws:iam/role:Role", "aws-data-backup-role");
    const [statement] = json(role, "assumeRolePolicy").Statement;
    assert.equal(statement.Action, "sts:AssumeRoleWithWebIdentity");
    assert.equal(
      statement.Principal.Federated,
      "arn:mock:aws:iam/openIdConnectProvider:OpenIdConnectProvider:aws-eks-oidc",
    );
    assert.deepEqual(statement.Condition.StringEquals, {
      [`${ISSUER}:sub`]: "system:serviceaccount:im-data:tidb-backup",
      [`${ISSUER}:aud`]: "sts.amazonaws.com",
    });
    const policy = json(one(rs, "aws:iam/rolePolicy:RolePolicy", "aws-data-backup-role-permissions"), "policy");
    const resources = policy.Statement.flatMap((s: { Resource: string[] }) => s.Resource);
    assert.deepEqual(resources, ["arn:aws:s3:::im-multicloud-aws-backup", "arn:aws:s3:::im-multicloud-aws-backup/*"]);
    assert.ok(policy.Statement.every((s: { Action: string[] }) => s.Action.every((a) => a.startsWith("s3:"))));
  });

  it("runs BR and TiKV as that service account, annotated with the role", () => {
    const account = one(rs, "kubernetes:core/v1:ServiceAccount", "aws-data-backup-account");
    assert.deepEqual(input(account, "metadata"), {
      name: "tidb-backup",
      namespace: "im-data",
      annotations: { "eks.amazonaws.com/role-arn": "arn:mock:aws:iam/role:Role:aws-data-backup-role" },
    });
    const schedule = one(rs, "kubernetes:pingcap.com/v1alpha1:BackupSchedule", "aws-data-tidb-backup");
    assert.equal(input(schedule, "spec.backupTemplate.serviceAccount"), "tidb-backup");
    assert.equal(input(schedule, "spec.backupTemplate.s3.bucket"), "im-multicloud-aws-backup");
    assert.equal(input(schedule, "spec.backupTemplate.s3.secretName"), undefined, "no access key");
    assert.equal(
      input(one(rs, "kubernetes:pingcap.com/v1alpha1:TidbCluster", "aws-data-tidb"), "spec.tikv.serviceAccount"),
      "tidb-backup",
    );
  });

  // BR v8.5 reads no RRSA token (only keys, or the node's ECS RAM role) and forwards keys to TiKV without a session
  // token: an RRSA role would never sign a backup (infra/data/oss-backup-user.ts).
  it("writes OSS backups with a RAM user's access key, scoped to the bucket and its KMS key, from a Secret BR names", () => {
    assert.deepEqual(
      ofType(rs, "alicloud:ram/role:Role").filter((r) => r.name.startsWith("alicloud-data-backup")),
      [],
      "no RRSA backup role: BR would not use it",
    );
    const user = one(rs, "alicloud:ram/user:User", "alicloud-data-backup-user");
    assert.equal(input(user, "name"), "multicloud-alicloud-data-backup-user", "RAM names are per account");
    const policy = json(
      one(rs, "alicloud:ram/policy:Policy", "alicloud-data-backup-user-permissions"),
      "policyDocument",
    );
    assert.deepEqual(policy.Statement.flatMap((s: { Resource: string[] }) => s.Resource).slice(0, 2), [
      "acs:oss:*:*:im-multicloud-ali-backup",
      "acs:oss:*:*:im-multicloud-ali-backup/*",
    ]);
    // KMS: only the bucket's own key, the one OSS encrypts the backups with.
    const key = one(rs, "alicloud:kms/key:Key", "alicloud-data-backup-key");
    assert.deepEqual(policy.Statement.at(-1).Resource, [`acs:kms:*:*:key/${key.id}`]);
    assert.equal(
      input(one(rs, "alicloud:oss/bucket:Bucket", "alicloud-data-backup"), "serverSideEncryptionRule.kmsMasterKeyId"),
      key.id,
    );
    const attach = one(
      rs,
      "alicloud:ram/userPolicyAttachment:UserPolicyAttachment",
      "alicloud-data-backup-user-attachment",
    );
    assert.deepEqual(
      [input(attach, "userName"), input(attach, "policyName"), input(attach, "policyType")],
      ["multicloud-alicloud-data-backup-user", "multicloud-alicloud-data-backup-user-permissions", "Custom"],
    );
    assert.equal(
      input(one(rs, "alicloud:ram/accessKey:AccessKey", "alicloud-data-backup-user-key"), "userName"),
      "multicloud-alicloud-data-backup-user",
    );
    // The Secret in TiDB Operator's form, both values Pulumi secrets.
    const secret = one(rs, "kubernetes:core/v1:Secret", "alicloud-data-backup-user-secret");
    assert.deepEqual(
      [input(secret, "metadata.namespace"), input(secret, "metadata.name")],
      ["im-data", "im-backup-oss"],
    );
    const data = input(secret, "data") as Record<string, string>;
    assert.deepEqual(Object.fromEntries(Object.entries(data).map(([k, v]) => [k, decodeSecretData(v)])), {
      access_key: "alicloud-data-backup-user-key-id",
      secret_key: "mock-access-key-secret-alicloud-data-backup-user-key",
    });
    assert.ok(
      secret.secretPaths.some((p) => p.startsWith("data")),
      secret.secretPaths.join(", "),
    );
    // The schedule: OSS's S3 API in the region, the keys from that Secret; BR forwards them to TiKV.
    const schedule = one(rs, "kubernetes:pingcap.com/v1alpha1:BackupSchedule", "alicloud-data-tidb-backup");
    const template = input(schedule, "spec.backupTemplate");
    assert.deepEqual(template.s3, {
      provider: "alibaba",
      region: "oss-cn-hangzhou",
      bucket: "im-multicloud-ali-backup",
      prefix: "br",
      endpoint: "https://oss-cn-hangzhou-internal.aliyuncs.com",
      secretName: "im-backup-oss",
    });
    assert.equal(template.serviceAccount, undefined);
    assert.equal(
      input(one(rs, "kubernetes:pingcap.com/v1alpha1:TidbCluster", "alicloud-data-tidb"), "spec.tikv.serviceAccount"),
      undefined,
    );
    const account = one(rs, "kubernetes:core/v1:ServiceAccount", "alicloud-data-backup-account");
    assert.equal(input(account, "metadata.annotations"), undefined);
  });

  it("runs the AWS Load Balancer Controller with its own IRSA role and hands it Traefik's NLB", () => {
    const release = one(rs, "kubernetes:helm.sh/v3:Release", "aws-lb-controller");
    assert.equal(input(release, "chart"), "aws-load-balancer-controller");
    assert.equal(input(release, "version"), "1.14.0");
    assert.equal(input(release, "values.clusterName"), "aws-eks");
    assert.deepEqual(input(release, "values.serviceAccount.annotations"), {
      "eks.amazonaws.com/role-arn": "arn:mock:aws:iam/role:Role:aws-lb-controller-role",
    });
    const trust = json(one(rs, "aws:iam/role:Role", "aws-lb-controller-role"), "assumeRolePolicy").Statement[0];
    assert.equal(
      trust.Condition.StringEquals[`${ISSUER}:sub`],
      "system:serviceaccount:kube-system:aws-load-balancer-controller",
    );
    const actions: string[] = json(
      one(rs, "aws:iam/rolePolicy:RolePolicy", "aws-lb-controller-role-permissions"),
      "policy",
    ).Statement.flatMap((s: { Action: string[] }) => s.Action);
    assert.ok(actions.includes("elasticloadbalancing:CreateLoadBalancer"));
    assert.ok(!actions.some((a) => a.startsWith("iam:") || a.startsWith("wafv2:")), "no rights beyond NLB Services");
    const traefik = one(rs, "kubernetes:helm.sh/v3:Release", "aws-traefik");
    const annotations = input(traefik, "values.service.annotations");
    assert.equal(annotations["service.beta.kubernetes.io/aws-load-balancer-type"], "external");
    assert.equal(annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"], "ip");
    assert.equal(
      ofType(rs, "kubernetes:helm.sh/v3:Release").filter((r) => r.name.startsWith("alicloud-lb")).length,
      0,
      "ACK's cloud controller builds its SLB",
    );
  });

  it("runs the EBS CSI driver as an EKS add-on with its own IRSA role holding AWS's driver policy", () => {
    const addon = one(rs, "aws:eks/addon:Addon", "aws-eks-ebs-csi");
    assert.deepEqual(
      [input(addon, "addonName"), input(addon, "clusterName"), input(addon, "serviceAccountRoleArn")],
      ["aws-ebs-csi-driver", "aws-eks", "arn:mock:aws:iam/role:Role:aws-eks-ebs-csi"],
    );
    const trust = json(one(rs, "aws:iam/role:Role", "aws-eks-ebs-csi"), "assumeRolePolicy").Statement[0];
    assert.equal(
      trust.Condition.StringEquals[`${ISSUER}:sub`],
      "system:serviceaccount:kube-system:ebs-csi-controller-sa",
    );
    const attached = ofType(rs, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").filter((a) =>
      a.name.startsWith("aws-eks-ebs-csi-"),
    );
    assert.deepEqual(
      attached.map((a) => input(a, "policyArn")),
      ["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"],
    );
    assert.equal(
      ofType(rs, "aws:iam/rolePolicy:RolePolicy").filter((p) => p.name.startsWith("aws-eks-ebs-csi")).length,
      0,
      "no inline policy when there are no statements",
    );
  });

  it("keeps both clusters' API endpoints private as the stack ships (no apiAccessCidrs)", () => {
    const eks = one(rs, "aws:eks/cluster:Cluster", "aws-eks");
    assert.deepEqual(
      [input(eks, "vpcConfig.endpointPublicAccess"), input(eks, "vpcConfig.publicAccessCidrs")],
      [false, undefined],
    );
    assert.equal(
      input(one(rs, "alicloud:cs/managedKubernetes:ManagedKubernetes", "alicloud-ack"), "slbInternetEnabled"),
      false,
    );
  });

  it("limits the EKS endpoint to the listed blocks when the stack lists them", async () => {
    const spec = stack("aws-prod");
    const aws = spec.clouds.aws;
    if (aws === undefined) throw new Error("aws-prod has clouds.aws");
    const listed = { ...aws, cluster: { ...aws.cluster, apiAccessCidrs: ["100.20.0.0/16"] } };
    const { resources } = await runWithMocks("listed", () => deployPlatform({ ...spec, clouds: { aws: listed } }));
    const eks = one(resources, "aws:eks/cluster:Cluster", "aws-eks");
    assert.deepEqual(
      [input(eks, "vpcConfig.endpointPublicAccess"), input(eks, "vpcConfig.publicAccessCidrs")],
      [true, ["100.20.0.0/16"]],
    );
  });
});

describe("a private API endpoint by default", () => {
  it("turns the EKS public endpoint and ACK's public API address off when apiAccessCidrs is empty", async () => {
    const spec = stack("multicloud");
    const { aws, alicloud } = spec.clouds;
    if (aws === undefined || alicloud === undefined) throw new Error("multicloud has both clouds");
    const closed = (c: typeof aws) => ({ ...c, cluster: { ...c.cluster, apiAccessCidrs: [] } });
    const { resources } = await runWithMocks("private", () =>
      deployPlatform({ ...spec, clouds: { aws: closed(aws), alicloud: closed(alicloud) } }),
    );
    const eks = one(resources, "aws:eks/cluster:Cluster", "aws-eks");
    assert.deepEqual(
      [
        input(eks, "vpcConfig.endpointPublicAccess"),
        input(eks, "vpcConfig.endpointPrivateAccess"),
        input(eks, "vpcConfig.publicAccessCidrs"),
      ],
      [false, true, undefined],
    );
    assert.equal(
      input(one(resources, "alicloud:cs/managedKubernetes:ManagedKubernetes", "alicloud-ack"), "slbInternetEnabled"),
      false,
    );
  });
});
