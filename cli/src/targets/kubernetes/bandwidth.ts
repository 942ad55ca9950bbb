/**
 * `imctl bandwidth` on the kubernetes target. The audit and the plan read the gateways' egress from the stack's
 * Prometheus (kubernetes.prometheus) with the same queries as on local: the services label their own series, and the
 * scrape adds `component` (the pod). Each gateway pod's cap is read from the pod itself, through the API server's pod
 * proxy, and set there at run time with the platform's internal token (Secret im-platform-secrets); a pod started
 * later takes the stack's value, so `persistedCaps` is null. Capacity changes go through the stack and the engine
 * (commands/bandwidth/cloud.ts), not through run-time caps.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { UserError, MESSAGES } from "../../errors.ts";
import type { BandwidthTarget, ConfigSnapshot, GatewayCap } from "../target.ts";
import type { KubernetesAccess } from "./access.ts";
import { apiRequest, podProxy } from "./api-http.ts";
import { readInternalToken } from "./internal-token.ts";

const CAP_METRIC = /^im_gateway_egress_cap_bytes_per_second(?:\{[^}]*\})?\s+(\S+)/m;
/** The services' container port (infra/services/im-service.ts). */
const SERVICE_PORT = 8080;

export const BANDWIDTH_MESSAGES = {
  noPrometheus: (stack: string) =>
    `kubernetes.prometheus: got nothing in ${stack}; allowed: { url: <Prometheus base URL> } or { service: ` +
    "<namespace>/<service>:<port> } (the audit and the plan read the gateways' egress from it)",
} as const;

interface GatewayPod {
  name: string;
}

async function gatewayPods(kc: KubeConfig, namespace: string): Promise<GatewayPod[]> {
  const k8s = await import("@kubernetes/client-node");
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const pods = await core.listNamespacedPod({ namespace, labelSelector: "app.kubernetes.io/name=gateway" });
  return pods.items
    .filter(
      (p) =>
        p.metadata?.deletionTimestamp === undefined &&
        p.status?.phase === "Running" &&
        p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    )
    .map((p) => ({ name: p.metadata?.name ?? "" }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The bandwidth workflow's view of a kubernetes stack. */
export function kubernetesBandwidthTarget(access: KubernetesAccess): BandwidthTarget {
  const { kc, namespace } = access;
  const prometheus = () => {
    if (access.prometheus === null) throw new UserError(BANDWIDTH_MESSAGES.noPrometheus(access.stack));
    return access.prometheus;
  };
  const readCap = async (pod: string): Promise<number> => {
    const r = await apiRequest(kc, "GET", podProxy(namespace, pod, SERVICE_PORT, "/metrics"));
    const m = r.status === 200 ? CAP_METRIC.exec(r.body) : null;
    if (!m) throw new Error(`${namespace}/${pod}: /metrics answered ${r.status} without the egress cap`);
    return Number(m[1]);
  };
  const caps = async (): Promise<GatewayCap[]> =>
    Promise.all(
      (await gatewayPods(kc, namespace)).map(async (p) => ({
        instance: p.name,
        bytesPerSecond: await readCap(p.name),
      })),
    );
  const setCap = async (instance: string, bytesPerSecond: number): Promise<void> => {
    const pods = await gatewayPods(kc, namespace);
    if (!pods.some((p) => p.name === instance))
      throw new UserError(
        MESSAGES.unknownGateway(
          instance,
          pods.map((p) => p.name),
        ),
      );
    const r = await apiRequest(kc, "PUT", podProxy(namespace, instance, SERVICE_PORT, "/admin/v1/egress-cap"), {
      body: JSON.stringify({ bytesPerSecond }),
      headers: { "content-type": "application/json", "x-im-internal": await readInternalToken(kc, namespace) },
    });
    if (r.status !== 200)
      throw new Error(
        `${namespace}/${instance}: PUT /admin/v1/egress-cap answered ${r.status}: ${r.body.slice(0, 120)}`,
      );
  };
  const host = access.spec.kubernetes.ingress.host;
  const scheme = access.spec.kubernetes.ingress.tls === undefined ? "http" : "https";
  return {
    kind: "kubernetes",
    stack: access.stack,
    stateDir: access.stateDir,
    withLock: access.withLock,
    query: (promql) => prometheus().query(promql),
    queryRange: (promql, start, end, step) => prometheus().queryRange(promql, start, end, step),
    edge: () => ({ http: `${scheme}://${host}`, ws: `${scheme === "https" ? "wss" : "ws"}://${host}/ws` }),
    gatewayCaps: caps,
    setGatewayCap: setCap,
    snapshotConfig: async (): Promise<ConfigSnapshot> => ({
      takenAt: new Date().toISOString(),
      target: "kubernetes",
      gatewayCaps: await caps(),
      persistedCaps: null,
    }),
    restoreConfig: async (snapshot: ConfigSnapshot): Promise<void> => {
      const live = new Set((await gatewayPods(kc, namespace)).map((p) => p.name));
      // A pod that is gone took its run-time cap with it; its replacement runs on the stack's value.
      for (const c of snapshot.gatewayCaps) if (live.has(c.instance)) await setCap(c.instance, c.bytesPerSecond);
    },
  };
}
