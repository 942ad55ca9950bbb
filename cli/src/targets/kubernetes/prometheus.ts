/**
 * The Prometheus HTTP API as a kubernetes target reaches it: at a URL (a port-forward, an internal load balancer), or
 * an in-cluster Service through the API server's service proxy
 * (`/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/...`) with the kubeconfig's own credentials, which needs no
 * port-forward and no extra exposure of Prometheus.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { RangeMetrics, Sample, Series } from "../target.ts";
import { apiRequest, serviceProxy } from "./api-http.ts";
import { withoutCredentials } from "../../credentials.ts";

export interface PrometheusClient extends RangeMetrics {
  /** Where the queries go, for messages (never with credentials). */
  readonly where: string;
}

type Transport = (path: string, params: URLSearchParams) => Promise<{ status: number; body: string }>;

const TIMEOUT_MS = 10_000;

/**
 * A URL's user and password (a stack's `https://user:pass@prometheus.example.com`) travel as HTTP basic auth, never
 * in the URL: fetch refuses a URL with credentials, and its error would quote the password.
 */
function viaUrl(base: string): Transport {
  const u = new URL(base);
  const auth =
    u.username === "" && u.password === ""
      ? undefined
      : `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString("base64")}`;
  u.username = "";
  u.password = "";
  const root = u.toString().replace(/\/$/, "");
  return async (path, params) => {
    const res = await fetch(`${root}${path}`, {
      method: "POST",
      body: params,
      headers: auth === undefined ? {} : { authorization: auth },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    return { status: res.status, body: await res.text() };
  };
}

/** `<ns>/<name>:<port>` through the API server's service proxy, authenticated as the kubeconfig's user. */
function viaServiceProxy(service: string, kc: KubeConfig): Transport {
  const m = /^([^/]+)\/([^:]+):(\d+)$/.exec(service);
  if (!m) throw new Error(`prometheus service: got ${JSON.stringify(service)}; allowed: <namespace>/<service>:<port>`);
  const [, ns = "", name = "", port = ""] = m;
  return (path, params) => apiRequest(kc, "GET", `${serviceProxy(ns, name, port, path)}?${params.toString()}`);
}

interface ApiBody {
  status?: string;
  error?: string;
  data?: { result?: unknown };
}

/** A Prometheus client for a URL, or for an in-cluster Service through the API server. */
export function prometheusAt(where: { url: string } | { service: string; kc: KubeConfig }): PrometheusClient {
  const transport = "url" in where ? viaUrl(where.url) : viaServiceProxy(where.service, where.kc);
  // Printed in doctor rows, drill and analysis errors, --json: a password in the URL shows as ***.
  const label = "url" in where ? withoutCredentials(where.url) : `service ${where.service} (through the API server)`;
  const call = async (path: string, params: Record<string, string>): Promise<unknown> => {
    let res: { status: number; body: string };
    try {
      res = await transport(path, new URLSearchParams(params));
    } catch (err) {
      const why = withoutCredentials(err instanceof Error ? err.message : String(err));
      throw new Error(`Prometheus at ${label}: ${why}`);
    }
    let body: ApiBody;
    try {
      body = JSON.parse(res.body) as ApiBody;
    } catch {
      const head = withoutCredentials(res.body.slice(0, 120));
      throw new Error(`Prometheus at ${label} answered HTTP ${res.status}, not JSON: ${head}`);
    }
    if (body.status !== "success")
      throw new Error(
        `Prometheus at ${label}: ${JSON.stringify(params.query ?? "")} failed: ${body.error ?? res.status}`,
      );
    return body.data?.result ?? [];
  };
  return {
    where: label,
    async query(promql) {
      const result = (await call("/api/v1/query", { query: promql })) as Array<{
        metric: Record<string, string>;
        value: [number, string];
      }>;
      return result.map((r): Sample => ({ labels: r.metric, value: Number(r.value[1]) }));
    },
    async queryRange(promql, startUnix, endUnix, stepSeconds) {
      const result = (await call("/api/v1/query_range", {
        query: promql,
        start: String(startUnix),
        end: String(endUnix),
        step: String(stepSeconds),
      })) as Array<{ metric: Record<string, string>; values: Array<[number, string]> }>;
      return result.map((r): Series => ({ labels: r.metric, points: r.values.map(([t, v]) => [t, Number(v)]) }));
    },
  };
}
