/** Creates the simulated nodes (one per zone) through the API server; kwok then makes them Ready. */
import { nodeManifests } from "./stages.ts";

/** Idempotent: a node that exists is left as it is. */
export async function createNodes(kubeconfig: string): Promise<string[]> {
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const existing = new Set((await core.listNode()).items.map((n) => n.metadata?.name));
  const created: string[] = [];
  for (const node of nodeManifests()) {
    if (existing.has(node.metadata.name)) continue;
    await core.createNode({ body: { apiVersion: "v1", kind: "Node", ...node } });
    created.push(node.metadata.name);
  }
  return created;
}

/** What the real node's CoreDNS may read (ClusterRole and binding `imctl:coredns`); idempotent. */
export async function ensureDnsAccess(kubeconfig: string): Promise<void> {
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const name = "imctl:coredns";
  const role = {
    metadata: { name },
    rules: [
      { apiGroups: [""], resources: ["endpoints", "services", "pods", "namespaces"], verbs: ["list", "watch"] },
      { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
    ],
  };
  const binding = {
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "imctl-coredns" }],
  };
  const existing = new Set((await rbac.listClusterRole()).items.map((r) => r.metadata?.name));
  if (!existing.has(name)) await rbac.createClusterRole({ body: role });
  const bound = new Set((await rbac.listClusterRoleBinding()).items.map((b) => b.metadata?.name));
  if (!bound.has(name)) await rbac.createClusterRoleBinding({ body: binding });
}
