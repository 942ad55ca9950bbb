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
