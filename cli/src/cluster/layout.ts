/**
 * Where the embedded cluster keeps its files and what it is made of: the components in the order `up` starts them,
 * the simulated nodes (one per zone), and the names a kubeconfig user sees. Pure: no I/O.
 */
import { join } from "node:path";
import { stateDir } from "../lib/paths.ts";

/** The kubeconfig context (and cluster) name `imctl cluster up` writes. */
export const CONTEXT_NAME = "imctl-embedded";

/** The components in start order; `down` stops them in reverse. */
export const COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"] as const;
export type ComponentId = (typeof COMPONENTS)[number];

/** Every tool `up` needs, as base/tools.mjs names them (the components' binaries). */
export const CLUSTER_TOOLS: readonly string[] = COMPONENTS;

/** The zones of the simulated nodes, one node each, so a zone topologySpreadConstraint has three domains. */
export const ZONES = ["zone-a", "zone-b", "zone-c"] as const;

/** What every simulated node offers: no taints, room for a platform's worth of pods. */
export const NODE_ALLOCATABLE = { cpu: "32", memory: "128Gi", pods: "110" } as const;

/** The instance type label of the simulated nodes (a made-up size that matches NODE_ALLOCATABLE). */
export const NODE_INSTANCE_TYPE = "kwok.32x128";

/** Annotation kwok selects its nodes by (`--manage-nodes-with-annotation-selector`). */
export const KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node";

export const nodeName = (zone: string): string => `kwok-${zone}`;

/**
 * Ranges the cluster's virtual networks use. The simulated nodes' pods take addresses from the lower half of the pod
 * range (routed nowhere: nothing runs in them); the real node's pods from a /24 of the upper half (node/config.ts).
 */
export const SERVICE_CIDR = "10.96.0.0/16";
export const POD_CIDR = "10.244.0.0/16";
export const SIMULATED_POD_CIDR = "10.244.0.0/17";

/** The paths of one cluster's files under the state directory (IMCTL_STATE_DIR moves it). */
export interface ClusterLayout {
  /** Everything of the cluster lives here; `down` removes it. */
  dir: string;
  state: string;
  /** Outside `dir`, so `down` can remove the directory while it holds the lock. */
  lock: string;
  kubeconfig: string;
  etcdData: string;
  pki: string;
  logs: string;
  stages: string;
}

export function clusterLayout(base: string = stateDir()): ClusterLayout {
  const dir = join(base, "cluster");
  return {
    dir,
    state: join(dir, "state.json"),
    lock: join(base, "cluster.lock"),
    kubeconfig: join(dir, "kubeconfig"),
    etcdData: join(dir, "etcd"),
    pki: join(dir, "pki"),
    logs: join(dir, "logs"),
    stages: join(dir, "kwok-stages.yaml"),
  };
}

export const logFile = (l: ClusterLayout, id: ComponentId): string => join(l.logs, `${id}.log`);

/** The kubeconfig a component (not the user) connects with; each has its own identity and token. */
export const componentKubeconfig = (l: ClusterLayout, id: ComponentId): string => join(l.pki, `${id}.kubeconfig`);

export function isComponentId(s: string): s is ComponentId {
  return (COMPONENTS as readonly string[]).includes(s);
}
