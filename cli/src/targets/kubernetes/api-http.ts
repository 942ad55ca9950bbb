/**
 * Raw HTTPS requests to the API server with the kubeconfig's credentials, for what client-node's typed clients do
 * not cover well: the service and pod proxies (`/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/...`,
 * `.../pods/<pod>:<port>/proxy/...`), whose answers are the proxied application's, not Kubernetes objects.
 */
import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

export interface ApiAnswer {
  status: number;
  body: string;
}

const TIMEOUT_MS = 10_000;

/** One request to the current context's API server; the path includes any query string. */
export async function apiRequest(
  kc: KubeConfig,
  method: string,
  path: string,
  o: { body?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<ApiAnswer> {
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new Error("the kubeconfig has no current cluster");
  const timeout = o.timeoutMs ?? TIMEOUT_MS;
  const opts: https.RequestOptions = { method, timeout, headers: { ...o.headers } };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(path, server), opts, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () =>
      req.destroy(new Error(`${method} through the API server: no answer within ${timeout / 1000} s`)),
    );
    req.on("error", reject);
    req.end(o.body);
  });
}

/** The API server's proxy path to a pod's port. */
export const podProxy = (namespace: string, pod: string, port: number, path: string): string =>
  `/api/v1/namespaces/${namespace}/pods/${pod}:${port}/proxy${path}`;

/** The API server's proxy path to a Service's port. */
export const serviceProxy = (namespace: string, service: string, port: number | string, path: string): string =>
  `/api/v1/namespaces/${namespace}/services/${service}:${port}/proxy${path}`;
