/**
 * Health of the cluster's parts, asked the way a client would: etcd's /health, the API server's /readyz with the
 * admin token, the controller-manager's and scheduler's /healthz over TLS verified against the cluster's CA, kwok's
 * /healthz, and the nodes as the API server lists them.
 */
import { get as httpGet, type IncomingMessage } from "node:http";
import { get as httpsGet } from "node:https";
import { readFileSync } from "node:fs";
import type { ComponentId } from "./layout.ts";

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One GET; TLS (when `ca` is given) is verified against that CA, never skipped. */
export function httpAnswer(
  url: string,
  opts: { ca?: string; token?: string; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
    const timeout = opts.timeoutMs ?? 3000;
    const onRes = (res: IncomingMessage) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    };
    const req = url.startsWith("https:")
      ? httpsGet(url, { headers, ca: opts.ca, timeout }, onRes)
      : httpGet(url, { headers, timeout }, onRes);
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeout} ms`)));
    req.on("error", reject);
  });
}

export interface ProbeContext {
  caFile: string;
  adminToken: () => string;
}

/** The URL that says whether a component is healthy. */
export function healthUrl(id: ComponentId, port: number): string {
  switch (id) {
    case "etcd":
      return `http://127.0.0.1:${port}/health`;
    case "kube-apiserver":
      return `https://127.0.0.1:${port}/readyz`;
    case "kwok":
      return `http://127.0.0.1:${port}/healthz`;
    default:
      return `https://127.0.0.1:${port}/healthz`;
  }
}

/** undefined when healthy; otherwise why not (one line). */
export async function probe(id: ComponentId, port: number, ctx: ProbeContext): Promise<string | undefined> {
  const url = healthUrl(id, port);
  try {
    const tls = url.startsWith("https:");
    const a = await httpAnswer(url, {
      ca: tls ? readFileSync(ctx.caFile, "utf8") : undefined,
      token: id === "kube-apiserver" ? ctx.adminToken() : undefined,
    });
    if (a.status !== 200) return `${url} answered ${a.status}: ${a.body.trim().split("\n").slice(-1)[0] ?? ""}`;
    if (id === "etcd" && !a.body.includes('"health":"true"')) return `${url}: ${a.body.trim()}`;
    return undefined;
  } catch (err) {
    return `${url}: ${(err as Error).message}`;
  }
}

export interface NodeStatus {
  name: string;
  zone: string;
  ready: boolean;
  /** Labels the tests and users select by (type=kwok marks a simulated node). */
  type: string;
}

/** The nodes as the API server lists them. */
export async function listNodes(kubeconfig: string): Promise<NodeStatus[]> {
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const list = await core.listNode();
  return list.items.map((n) => ({
    name: n.metadata?.name ?? "?",
    zone: n.metadata?.labels?.["topology.kubernetes.io/zone"] ?? "",
    type: n.metadata?.labels?.type ?? "",
    ready: (n.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
  }));
}
