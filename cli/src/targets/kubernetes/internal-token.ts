/**
 * The platform's internal token on a kubernetes target: what service-to-service calls carry in `x-im-internal`
 * (services/lib/http.ts requireInternal), kept in the Secret the program creates (infra/services/im-services.ts).
 * Read with the kubeconfig's credentials when a workflow needs an internal route, held in memory only, and sent as a
 * header: never in a URL, a message, a record or a log line.
 */
import type { KubeConfig } from "@kubernetes/client-node";

/** The Secret and key of the services' internal token (infra/services/im-services.ts SECRET_KEYS). */
export const INTERNAL_TOKEN_SECRET = { name: "im-platform-secrets", key: "INTERNAL_TOKEN" } as const;

export async function readInternalToken(kc: KubeConfig, namespace: string): Promise<string> {
  const k8s = await import("@kubernetes/client-node");
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const { name, key } = INTERNAL_TOKEN_SECRET;
  const secret = await core.readNamespacedSecret({ name, namespace }).catch((err: unknown) => {
    // client-node's error carries the API server's Status (reason, message), never the Secret's data.
    const code = (err as { code?: unknown }).code;
    const why =
      code === 401 || code === 403
        ? `HTTP ${code}: the kubeconfig's user needs get on that Secret`
        : code === 404
          ? "HTTP 404: no such Secret; is the platform deployed from this stack? (imctl up)"
          : code !== undefined
            ? `HTTP ${String(code)}`
            : (err instanceof Error ? err.message : String(err)).slice(0, 160);
    throw new Error(`cannot read the internal token from secret ${namespace}/${name} (${why})`);
  });
  const b64 = secret.data?.[key];
  if (b64 === undefined) throw new Error(`secret ${namespace}/${name} has no ${key}`);
  return Buffer.from(b64, "base64").toString("utf8");
}
