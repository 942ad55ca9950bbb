/**
 * Where the in-cluster data pods go and what their volumes are: the clouds' data node groups (labelled and tainted
 * im/tier=data, encrypted StorageClass), or what an existing cluster's stack says (its selector, tolerations and
 * StorageClass, or the cluster's default class). Redis, Strimzi's Kafka and TiDB all read one of these.
 */
import { DATA_TAINT } from "../cluster/eks-cluster.ts";
import { STORAGE_CLASS } from "../cluster/encrypted-storage.ts";

export interface DataToleration {
  key?: string | undefined;
  operator: "Equal" | "Exists";
  value?: string | undefined;
  effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute" | undefined;
}

export interface DataPlacement {
  nodeSelector: Record<string, string>;
  tolerations: DataToleration[];
  /** The volumes' StorageClass; undefined: the cluster's default class. */
  storageClass: string | undefined;
}

/** The clouds' data node groups (infra/cluster/eks-cluster.ts, ack-cluster.ts) and their encrypted disks. */
export const CLOUD_DATA_PLACEMENT: DataPlacement = {
  nodeSelector: { [DATA_TAINT.key]: DATA_TAINT.value },
  tolerations: [{ key: DATA_TAINT.key, operator: "Equal", value: DATA_TAINT.value, effect: "NoSchedule" }],
  storageClass: STORAGE_CLASS,
};

/** A node selector as required node affinity, for pod templates (Strimzi's) that take affinity but no selector. */
export function requiredNodeAffinity(selector: Record<string, string>): Record<string, unknown> | undefined {
  const entries = Object.entries(selector);
  if (entries.length === 0) return undefined;
  return {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          { matchExpressions: entries.map(([key, value]) => ({ key, operator: "In", values: [value] })) },
        ],
      },
    },
  };
}
