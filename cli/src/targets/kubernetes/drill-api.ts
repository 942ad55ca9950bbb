/**
 * The Kubernetes calls a drill makes, behind one narrow interface (`DrillApi`): `clientNodeDrillApi` adapts
 * @kubernetes/client-node 1.3.0; the unit tests of the planning code need none of it (kube-faults.ts is pure).
 */
import type { KubeConfig, V1Node, V1Pod } from "@kubernetes/client-node";
import { KWOK_NODE_ANNOTATION } from "../../cluster/layout.ts";
import {
  SERVICE_LABEL,
  ZONE_LABEL,
  type EvictOutcome,
  type NodeView,
  type PodView,
  type WorkloadView,
} from "./kube-faults.ts";

export interface DrillApi {
  /** Pods of one namespace, or of every namespace on one node. */
  listPods(where: { namespace: string } | { node: string }): Promise<PodView[]>;
  listNodes(): Promise<NodeView[]>;
  /** Deployments and StatefulSets of the namespace. */
  listWorkloads(namespace: string): Promise<WorkloadView[]>;
  /** Deletes a pod with its own grace period, or `graceSeconds`; a pod already gone is fine. */
  deletePod(namespace: string, name: string, graceSeconds?: number): Promise<void>;
  /** policy/v1 Eviction: 429 (a PodDisruptionBudget forbids it now) is "blocked", 404 "gone". */
  evictPod(namespace: string, name: string): Promise<EvictOutcome>;
  /** Cordons (or uncordons) a node, and sets (or removes) an annotation saying which drill did it. */
  setUnschedulable(node: string, unschedulable: boolean, annotations: Record<string, string | null>): Promise<void>;
  createNetworkPolicy(namespace: string, body: Record<string, unknown>): Promise<void>;
  /** Names of the NetworkPolicies matching the label selector in the namespace. */
  listNetworkPolicies(namespace: string, labelSelector: string): Promise<string[]>;
  deleteNetworkPolicies(namespace: string, labelSelector: string): Promise<void>;
}

const code = (err: unknown) =>
  typeof err === "object" && err !== null && "code" in err ? (err as { code: unknown }).code : undefined;

function podView(p: V1Pod): PodView {
  const owner = p.metadata?.ownerReferences?.find((o) => o.controller === true);
  const phase = p.status?.phase;
  return {
    namespace: p.metadata?.namespace ?? "",
    name: p.metadata?.name ?? "",
    uid: p.metadata?.uid ?? "",
    node: p.spec?.nodeName ?? null,
    labels: p.metadata?.labels ?? {},
    owner: owner?.kind ?? null,
    mirror: (p.metadata?.annotations ?? {})["kubernetes.io/config.mirror"] !== undefined,
    ready: p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    terminating: p.metadata?.deletionTimestamp !== undefined && p.metadata.deletionTimestamp !== null,
    completed: phase === "Succeeded" || phase === "Failed",
  };
}

function nodeView(n: V1Node): NodeView {
  const annotations = n.metadata?.annotations ?? {};
  const labels = n.metadata?.labels ?? {};
  return {
    name: n.metadata?.name ?? "",
    zone: labels[ZONE_LABEL] ?? null,
    ready: n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    unschedulable: n.spec?.unschedulable === true,
    simulated: annotations[KWOK_NODE_ANNOTATION] !== undefined || labels.type === "kwok",
    annotations,
  };
}

export async function clientNodeDrillApi(kc: KubeConfig): Promise<DrillApi> {
  const k8s = await import("@kubernetes/client-node");
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const net = kc.makeApiClient(k8s.NetworkingV1Api);
  const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
  return {
    async listPods(where) {
      const list =
        "namespace" in where
          ? await core.listNamespacedPod({ namespace: where.namespace })
          : await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${where.node}` });
      return list.items.map(podView);
    },
    async listNodes() {
      return (await core.listNode()).items.map(nodeView);
    },
    async listWorkloads(namespace) {
      const [deployments, statefulSets] = await Promise.all([
        apps.listNamespacedDeployment({ namespace }),
        apps.listNamespacedStatefulSet({ namespace }),
      ]);
      const view = (
        kind: WorkloadView["kind"],
        o: (typeof deployments.items)[number] | (typeof statefulSets.items)[number],
      ): WorkloadView => ({
        kind,
        name: o.metadata?.name ?? "",
        namespace,
        service: o.metadata?.labels?.[SERVICE_LABEL] ?? o.metadata?.name ?? "",
        selector: o.spec?.selector.matchLabels ?? {},
        desired: o.spec?.replicas ?? 1,
        ready: o.status?.readyReplicas ?? 0,
        updated: o.status?.updatedReplicas ?? 0,
        generation: o.metadata?.generation ?? 0,
        observedGeneration: o.status?.observedGeneration ?? 0,
      });
      return [
        ...deployments.items.map((d) => view("Deployment", d)),
        ...statefulSets.items.map((s) => view("StatefulSet", s)),
      ];
    },
    async deletePod(namespace, name, graceSeconds) {
      try {
        await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: graceSeconds });
      } catch (err) {
        if (code(err) !== 404) throw err;
      }
    },
    async evictPod(namespace, name) {
      try {
        await core.createNamespacedPodEviction({
          namespace,
          name,
          body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name, namespace } },
        });
        return "evicted";
      } catch (err) {
        if (code(err) === 429) return "blocked";
        if (code(err) === 404) return "gone";
        throw err;
      }
    },
    async setUnschedulable(node, unschedulable, annotations) {
      await core.patchNode({ name: node, body: { metadata: { annotations }, spec: { unschedulable } } }, merge);
    },
    async createNetworkPolicy(namespace, body) {
      await net.createNamespacedNetworkPolicy({ namespace, body });
    },
    async listNetworkPolicies(namespace, labelSelector) {
      const list = await net.listNamespacedNetworkPolicy({ namespace, labelSelector });
      return list.items.map((p) => p.metadata?.name ?? "");
    },
    async deleteNetworkPolicies(namespace, labelSelector) {
      await net.deleteCollectionNamespacedNetworkPolicy({ namespace, labelSelector });
    },
  };
}
