/**
 * The embedded Kubernetes cluster as a library: what `imctl cluster` runs, and what integration tests call to get a
 * real API server with controllers, a scheduler and three simulated nodes (one per zone) on this machine.
 *
 *   const up = await clusterUp({ progress: console.error });   // idempotent
 *   process.env.KUBECONFIG = kubeconfigPath();                 // context "imctl-embedded", CA-verified, token auth
 *   ...
 *   await clusterDown({ yes: true });                          // no process, port or file left
 *
 * IMCTL_STATE_DIR moves everything (tests use a temp dir).
 */
export { clusterDown, clusterImages, clusterLogs, clusterUp, kubeconfigPath } from "./cluster.ts";
export { readImageRefs } from "./node/node.ts";
export type { LoadedImages } from "./node/node.ts";
export { REAL_NODE_LABEL, REAL_NODE_LABEL_VALUE, REAL_NODE_NAME } from "./node/config.ts";
export type { ClusterDownResult, ClusterUpOptions, ClusterUpResult, Progress } from "./cluster.ts";
export { clusterStatus } from "./status.ts";
export type { ClusterLogs, ClusterStatus, ComponentReport, ComponentState } from "./status.ts";
export type { NodeStatus } from "./probe.ts";
export { clusterLayout, COMPONENTS, CONTEXT_NAME, NODE_ALLOCATABLE, ZONES } from "./layout.ts";
export type { ClusterLayout, ComponentId } from "./layout.ts";
export { CLUSTER_MESSAGES } from "./messages.ts";
