/**
 * The bucket TiDB's BR backups go to: private (every public access path blocked), encrypted with a KMS key,
 * versioned, and expiring backups after the retention period. S3 on AWS, OSS on Alibaba Cloud.
 */
import * as alicloud from "@pulumi/alicloud";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface BackupBucketArgs {
  cloud: "aws" | "alicloud";
  /** Globally unique bucket name, from the stack file. */
  bucket: string;
  retentionDays: number;
  tags: Record<string, string>;
}

export class BackupBucket extends pulumi.ComponentResource {
  readonly bucketName: pulumi.Output<string>;
  /**
   * OSS: the bucket's own KMS key (its id), so the backup role's KMS grant names one key, not every key of the
   * account. Undefined on S3, whose default aws/s3 key S3 uses on the caller's behalf without a KMS grant.
   */
  readonly kmsKeyId: pulumi.Output<string> | undefined;

  constructor(name: string, args: BackupBucketArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:data:BackupBucket", name, {}, opts);
    const child = { parent: this };
    if (args.cloud === "aws") {
      const bucket = new aws.s3.Bucket(name, { bucket: args.bucket, tags: args.tags }, { parent: this, protect: true });
      new aws.s3.BucketPublicAccessBlock(
        `${name}-private`,
        {
          bucket: bucket.id,
          blockPublicAcls: true,
          blockPublicPolicy: true,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        },
        child,
      );
      new aws.s3.BucketServerSideEncryptionConfiguration(
        `${name}-encryption`,
        {
          bucket: bucket.id,
          rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" }, bucketKeyEnabled: true }],
        },
        child,
      );
      new aws.s3.BucketVersioning(
        `${name}-versioning`,
        { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } },
        child,
      );
      new aws.s3.BucketLifecycleConfiguration(
        `${name}-retention`,
        {
          bucket: bucket.id,
          rules: [
            {
              id: "expire-backups",
              status: "Enabled",
              filter: {},
              expiration: { days: args.retentionDays },
              noncurrentVersionExpiration: { noncurrentDays: args.retentionDays },
            },
          ],
        },
        child,
      );
      this.bucketName = bucket.bucket;
      this.kmsKeyId = undefined;
    } else {
      const key = new alicloud.kms.Key(
        `${name}-key`,
        {
          description: `${name}: TiDB backups`,
          automaticRotation: "Enabled",
          rotationInterval: "365d",
          tags: args.tags,
        },
        { parent: this, protect: true },
      );
      this.kmsKeyId = key.id;
      const bucket = new alicloud.oss.Bucket(
        name,
        {
          bucket: args.bucket,
          acl: "private",
          serverSideEncryptionRule: { sseAlgorithm: "KMS", kmsMasterKeyId: key.id },
          versioning: { status: "Enabled" },
          lifecycleRules: [
            {
              id: "expire-backups",
              enabled: true,
              prefix: "",
              expirations: [{ days: args.retentionDays }],
              noncurrentVersionExpirations: [{ days: args.retentionDays }],
            },
          ],
          tags: args.tags,
        },
        { parent: this, protect: true },
      );
      this.bucketName = bucket.bucket.apply((b) => b ?? args.bucket);
    }
    this.registerOutputs({ bucketName: this.bucketName });
  }
}
