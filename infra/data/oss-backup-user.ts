/**
 * The credentials TiDB's BR backups write OSS with: a RAM user allowed only the backup bucket and its KMS key, its
 * access key, and a Secret `OSS_BACKUP_SECRET` (access_key, secret_key: TiDB Operator's form for `s3.secretName`) in
 * the data namespace.
 *
 * Why not RRSA, as S3 uses IRSA: BR v8.5 reads no OIDC token. For an endpoint on aliyuncs.com its S3 client takes
 * keys from its flags or environment (which TiDB Operator fills from the Secret) and otherwise the ECS instance's RAM
 * role from the metadata service, i.e. the node's role, never the pod's (pingcap/tidb br/pkg/storage/s3.go,
 * `autoNewCred`, pingcap/tidb#54150). And BR forwards credentials to every TiKV store without a session token
 * (TiKV uploads the SST files itself), which temporary STS credentials, as RRSA yields, need (pingcap/tidb#52349,
 * #70555). A long-lived key is what works; it lives in Pulumi's state as a secret and rotates with a replaced
 * AccessKey (`pulumi up --replace` on it).
 */
import * as alicloud from "@pulumi/alicloud";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { secretData } from "../cluster/secret-data.ts";
import type { PolicyStatement } from "../cluster/workload-role.ts";

/** The Secret BR's BackupSchedule names (`s3.secretName`). */
export const OSS_BACKUP_SECRET = "im-backup-oss";

export interface OssBackupUserArgs {
  /** The data namespace, where BR runs. */
  namespace: pulumi.Input<string>;
  /** What the user may do: the bucket and its KMS key only (data-tier.ts `bucketStatements`). */
  statements: PolicyStatement[];
  provider: k8s.Provider;
}

export class OssBackupUser extends pulumi.ComponentResource {
  /** The Secret's name, once it exists. */
  readonly secretName: pulumi.Output<string>;

  constructor(name: string, args: OssBackupUserArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:data:OssBackupUser", name, {}, opts);
    // RAM names are account-wide: the stack's name keeps two stacks in one account apart (64 characters at most).
    const ramName = `${pulumi.getStack().slice(0, 30)}-${name}`.slice(0, 52);
    const user = new alicloud.ram.User(
      name,
      { name: ramName, comments: "TiDB BR backups to the platform's OSS bucket (no console login)" },
      { parent: this },
    );
    const policy = new alicloud.ram.Policy(
      `${name}-permissions`,
      {
        policyName: `${ramName}-permissions`,
        policyDocument: pulumi
          .output(args.statements)
          .apply((statements) => JSON.stringify({ Version: "1", Statement: statements })),
      },
      { parent: this },
    );
    new alicloud.ram.UserPolicyAttachment(
      `${name}-attachment`,
      { userName: user.name, policyName: policy.policyName, policyType: "Custom" },
      { parent: this },
    );
    const key = new alicloud.ram.AccessKey(`${name}-key`, { userName: user.name }, { parent: this });
    const secret = new k8s.core.v1.Secret(
      `${name}-secret`,
      {
        metadata: { name: OSS_BACKUP_SECRET, namespace: args.namespace },
        type: "Opaque",
        data: secretData({ access_key: pulumi.secret(key.id), secret_key: pulumi.secret(key.secret) }),
      },
      { parent: this, provider: args.provider },
    );
    this.secretName = secret.metadata.name;
    this.registerOutputs({ secretName: this.secretName });
  }
}
