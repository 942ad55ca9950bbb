/**
 * `imctl group` on a kubernetes target (docs/groups.md): user-center's internal route
 * `GET /internal/v1/groups/:id/sub-groups` and the message service's `/internal/v1/groups/:id/move[/switch|/finish|
 * /rollback]`, reached through the API server's service proxy (`/api/v1/namespaces/<ns>/services/<name>:8080/proxy/
 * ...`) with the kubeconfig's credentials, as the stack's Prometheus is. The internal routes stay off the Gateway
 * (only /ws and /v1 are routed there), no port-forward or extra exposure is needed, and two gates apply: the API
 * server's (the kubeconfig's user needs get and create on services/proxy, and get on the platform Secret) and the
 * services' own (the internal token, read from the Secret and sent as the `x-im-internal` header, never in a URL or
 * a message). The lock, the state directory (group-moves records, audit) and Prometheus are the stack's (access.ts).
 */
import { ExitError } from "../../errors.ts";
import { withoutCredentials } from "../../credentials.ts";
import { GroupMoveRefusal, type GroupMoveStep, type GroupTarget } from "../target.ts";
import type { KubernetesAccess } from "./access.ts";
import { apiRequest, serviceProxy, type ApiAnswer } from "./api-http.ts";
import { INTERNAL_TOKEN_SECRET, readInternalToken } from "./internal-token.ts";

/** The services' Service port (infra/services/im-service.ts). */
const SERVICE_PORT = 8080;
/** Tries of one call: each goes to an endpoint the API server picks, so a failed pod is usually missed next time. */
export const PROXY_ATTEMPTS = 3;
const RETRY_PAUSE_MS = 1000;
const STATUS_TIMEOUT_MS = 10_000;
/** A switch or rollback batch writes and backfills up to 500 members. */
const MOVE_TIMEOUT_MS = 60_000;

export const KUBERNETES_GROUP_MESSAGES = {
  forbidden: (ns: string, service: string, why: string) =>
    `the API server refused to proxy to service ${ns}/${service} (${why}): the kubeconfig's user needs get and ` +
    `create on services/proxy, and get on secret ${INTERNAL_TOKEN_SECRET.name}, in namespace ${ns}`,
  noService: (ns: string, service: string, why: string) =>
    `service ${ns}/${service} is not there (${why}): is the platform deployed from this stack? (imctl up)`,
  tokenRefused: (ns: string, service: string) =>
    `service ${ns}/${service} refused the internal token of secret ${ns}/${INTERNAL_TOKEN_SECRET.name} (HTTP 403): ` +
    "the pods run with another token than the Secret holds now (restart them after rotating it)",
  noAnswer: (what: string, ns: string, service: string, failures: string[], stack: string) =>
    `${what}: no ${service} instance answered through the API server's service proxy (${ns}/${service}: ` +
    `${failures.join("; ")}); is the platform up? (imctl doctor --stack ${stack})`,
} as const;

/** One request to a Service of the namespace, through the API server; the path is the service's own. */
export type ServiceCall = (
  service: string,
  method: "GET" | "POST",
  path: string,
  o: { body?: string; headers: Record<string, string>; timeoutMs: number },
) => Promise<ApiAnswer>;

/** The API server's own answer (a `Status`: no endpoints, forbidden, no such service), not the service's. */
function apiServerStatus(a: ApiAnswer): { reason: string; message: string } | undefined {
  try {
    const v = JSON.parse(a.body) as { kind?: unknown; apiVersion?: unknown; reason?: unknown; message?: unknown };
    if (v.kind !== "Status" || v.apiVersion !== "v1") return undefined;
    return { reason: String(v.reason ?? a.status), message: String(v.message ?? "").slice(0, 160) };
  } catch {
    return undefined;
  }
}

const jsonOf = (a: ApiAnswer): { error?: unknown; message?: unknown } => {
  try {
    return JSON.parse(a.body) as { error?: unknown; message?: unknown };
  } catch {
    return {};
  }
};

/** What to do with one answer of the service: use it, or try again (a failure line for the final message). */
type Verdict = { use: ApiAnswer } | { fail: string };

export interface KubernetesGroupDeps {
  /** Default: the API server's service proxy with the kubeconfig's credentials. */
  call?: ServiceCall;
  /** Default: the Secret im-platform-secrets of the services' namespace. */
  token?: () => Promise<string>;
  /** Pause between tries. Default 1 s. */
  retryPauseMs?: number;
}

type Reach = (
  what: string,
  service: string,
  method: "GET" | "POST",
  path: string,
  o: { body?: string; timeoutMs: number },
  judge: (a: ApiAnswer) => Verdict,
) => Promise<ApiAnswer>;

/**
 * How the workflow calls an internal route: with the token (read once), PROXY_ATTEMPTS tries at most until `judge`
 * finds an answer usable; the API server's own refusals end the command at once. The answer or an ExitError.
 */
function internalCaller(access: KubernetesAccess, deps: KubernetesGroupDeps): Reach {
  const { kc, namespace: ns } = access;
  const call: ServiceCall =
    deps.call ??
    ((service, method, path, o) => apiRequest(kc, method, serviceProxy(ns, service, SERVICE_PORT, path), o));
  let token: Promise<string> | undefined;
  const internalToken = () =>
    (token ??= (deps.token ?? (() => readInternalToken(kc, ns)))().catch((err: unknown) => {
      token = undefined;
      throw new ExitError(withoutCredentials(err instanceof Error ? err.message : String(err)), 1);
    }));
  return async (what, service, method, path, o, judge) => {
    const headers = { "x-im-internal": await internalToken(), "content-type": "application/json" };
    const failures: string[] = [];
    for (let attempt = 1; attempt <= PROXY_ATTEMPTS; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, deps.retryPauseMs ?? RETRY_PAUSE_MS));
      let a: ApiAnswer;
      try {
        a = await call(service, method, path, { ...o, headers });
      } catch (err) {
        failures.push(withoutCredentials(err instanceof Error ? err.message : String(err)).slice(0, 160));
        continue;
      }
      const st = apiServerStatus(a);
      if (st !== undefined) {
        const why = `HTTP ${a.status} ${st.reason}: ${st.message}`;
        if (a.status === 401 || a.status === 403)
          throw new ExitError(KUBERNETES_GROUP_MESSAGES.forbidden(ns, service, why), 1);
        if (a.status === 404 && st.reason === "NotFound")
          throw new ExitError(KUBERNETES_GROUP_MESSAGES.noService(ns, service, why), 1);
        failures.push(why);
        continue;
      }
      if (a.status === 403 && jsonOf(a).error === "forbidden")
        throw new ExitError(KUBERNETES_GROUP_MESSAGES.tokenRefused(ns, service), 1);
      const v = judge(a);
      if ("use" in v) return v.use;
      failures.push(v.fail);
    }
    throw new ExitError(KUBERNETES_GROUP_MESSAGES.noAnswer(what, ns, service, failures, access.stack), 1);
  };
}

/** The group workflow's view of a kubernetes stack. */
export function kubernetesGroupTarget(access: KubernetesAccess, deps: KubernetesGroupDeps = {}): GroupTarget {
  const reach = internalCaller(access, deps);
  return {
    kind: "kubernetes",
    stateDir: access.stateDir,
    withLock: access.withLock,
    metricsSource: () => access.prometheus?.where ?? null,
    query: async (promql) => {
      // grow and rebalance refuse to start without it (metricsSource); a rollback never measures.
      if (access.prometheus === null) throw new Error(`no Prometheus: ${access.stack} sets no kubernetes.prometheus`);
      return access.prometheus.query(promql);
    },
    async groupStatus(groupId) {
      const path = `/internal/v1/groups/${groupId}/sub-groups`;
      const a = await reach("group status", "user-center", "GET", path, { timeoutMs: STATUS_TIMEOUT_MS }, (x) =>
        x.status === 200 || x.status === 404 ? { use: x } : { fail: `HTTP ${x.status}` },
      );
      if (a.status === 404) return null;
      try {
        return JSON.parse(a.body) as unknown;
      } catch {
        throw new ExitError(`group status: user-center answered HTTP 200 with something that is not JSON`, 1);
      }
    },
    async groupMove(groupId, step: GroupMoveStep, body) {
      const path = `/internal/v1/groups/${groupId}/move${step === "get" || step === "plan" ? "" : `/${step}`}`;
      const method = step === "get" ? "GET" : "POST";
      const o = { timeoutMs: MOVE_TIMEOUT_MS, ...(step === "get" ? {} : { body: JSON.stringify(body ?? {}) }) };
      // As on the local target: a 5xx other than 503 is the instance's failure (another may answer); a 4xx or a 503
      // is the platform's answer to the step (a refusal, or "not now"), for the workflow to judge.
      const a = await reach(`group ${step}`, "message", method, path, o, (x) =>
        x.status >= 500 && x.status !== 503 ? { fail: `HTTP ${x.status}` } : { use: x },
      );
      const data = jsonOf(a);
      if (a.status >= 200 && a.status < 300) return data;
      throw new GroupMoveRefusal(String(data.error ?? a.status), String(data.message ?? ""), a.status);
    },
  };
}
