/**
 * The StorageClass every persistent volume of the data tier uses: encrypted disks (EBS gp3 through the EBS CSI
 * driver, ESSD through ACK's disk CSI plugin), created in the zone of the pod that first uses them (so a TiKV store
 * and its disk share a zone), expandable, and kept when their claim is deleted (a mistaken `kubectl delete pvc` must
 * not delete a Raft copy). The clusters' default classes are left alone: they promise no encryption.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export interface EncryptedStorageArgs {
  cloud: "aws" | "alicloud";
  provider: k8s.Provider;
}

/** The class the data tier's claims name. */
export const STORAGE_CLASS = "im-encrypted";

export class EncryptedStorage extends pulumi.ComponentResource {
  readonly storageClassName: pulumi.Output<string>;

  constructor(name: string, args: EncryptedStorageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:cluster:EncryptedStorage", name, {}, opts);
    const driver: { provisioner: string; parameters: Record<string, string> } =
      args.cloud === "aws"
        ? {
            provisioner: "ebs.csi.aws.com",
            parameters: { type: "gp3", encrypted: "true", "csi.storage.k8s.io/fstype": "ext4" },
          }
        : {
            provisioner: "diskplugin.csi.alibabacloud.com",
            parameters: { type: "cloud_essd", performanceLevel: "PL1", encrypted: "true", fstype: "ext4" },
          };
    const sc = new k8s.storage.v1.StorageClass(
      name,
      {
        metadata: { name: STORAGE_CLASS, labels: { "app.kubernetes.io/part-of": "im-platform" } },
        ...driver,
        volumeBindingMode: "WaitForFirstConsumer",
        reclaimPolicy: "Retain",
        allowVolumeExpansion: true,
      },
      { parent: this, provider: args.provider },
    );
    this.storageClassName = sc.metadata.name;
    this.registerOutputs({ storageClassName: this.storageClassName });
  }
}
