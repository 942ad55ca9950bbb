/**
 * The platform's entry point on the Gateway API (ingress-nginx was retired in March 2026): one Gateway that accepts
 * HTTPRoutes from its own namespace. The services attach their routes (infra/services/im-service.ts): /ws to
 * gateway, /v1 to user-center, each split between the stable and canary Services by backendRef weights. The
 * controller serving `className` gives it an address: Traefik on the clouds (infra/gateway/traefik.ts), the
 * cluster's own on an existing cluster.
 *
 * With `https` (the clouds), TLS ends here: an HTTPS listener with the host's certificate (cert-manager writes its
 * Secret, infra/gateway/edge-tls.ts), the services' routes attach to that listener only, and the HTTP listener serves
 * nothing but a redirect to HTTPS (and, from cert-manager's own route, the ACME HTTP-01 challenge, whose exact path
 * takes precedence over the redirect's prefix). Clients authenticate the WebSocket with a token: it must never
 * cross the internet in plaintext.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export interface PlatformGatewayArgs {
  namespace: pulumi.Input<string>;
  /** The GatewayClass (infra/lib/spec-cluster.ts DEFAULT_GATEWAY_CLASS by default in the stack). */
  className: string;
  /** The HTTP listener's port (the controller's entry point, see infra/gateway/traefik.ts). Default 80. */
  port?: number;
  /**
   * TLS at the edge: an HTTPS listener on `port` for `hostname` with the certificate in Secret `secretName` (in the
   * Gateway's namespace), and HTTP redirected to HTTPS. Default none: HTTP only (an existing cluster's test edge).
   */
  https?: { port: number; hostname: string; secretName: string } | undefined;
  provider: k8s.Provider;
}

/** The Gateway's name; the HTTPRoutes' parentRefs name it. */
export const GATEWAY_NAME = "im-gateway";
/** The listeners' names: an HTTPRoute's parentRef picks one by sectionName. */
export const HTTP_LISTENER = "http";
export const HTTPS_LISTENER = "https";
/** The HTTPRoute on the HTTP listener that redirects every request to HTTPS. */
export const HTTPS_REDIRECT_ROUTE = "im-https-redirect";

export class PlatformGateway extends pulumi.ComponentResource {
  readonly name: pulumi.Output<string>;
  readonly namespace: pulumi.Output<string>;
  /** The first address the controller assigned, or "" while none has (no controller serves the class). */
  readonly address: pulumi.Output<string>;
  readonly gateway: k8s.apiextensions.CustomResource;

  constructor(name: string, args: PlatformGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:gateway:PlatformGateway", name, {}, opts);
    const https = args.https;
    const sameNamespace = { namespaces: { from: "Same" } };
    this.gateway = new k8s.apiextensions.CustomResource(
      `${name}-gateway`,
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "Gateway",
        metadata: {
          name: GATEWAY_NAME,
          namespace: args.namespace,
          labels: { "app.kubernetes.io/part-of": "im-platform" },
        },
        spec: {
          gatewayClassName: args.className,
          listeners: [
            { name: HTTP_LISTENER, protocol: "HTTP", port: args.port ?? 80, allowedRoutes: sameNamespace },
            ...(https === undefined
              ? []
              : [
                  {
                    name: HTTPS_LISTENER,
                    protocol: "HTTPS",
                    port: https.port,
                    hostname: https.hostname,
                    tls: { mode: "Terminate", certificateRefs: [{ kind: "Secret", name: https.secretName }] },
                    allowedRoutes: sameNamespace,
                  },
                ]),
          ],
        },
        // Declared (and never set) so the resource has a `status` output: the controller fills it in.
        status: undefined,
      },
      { parent: this, provider: args.provider },
    );
    const status = (this.gateway as unknown as { status: pulumi.Output<unknown> }).status;
    this.address = status.apply((s) => firstAddress(s));
    this.name = this.gateway.metadata.name;
    this.namespace = this.gateway.metadata.namespace;
    if (https !== undefined)
      new k8s.apiextensions.CustomResource(
        `${name}-https-redirect`,
        {
          apiVersion: "gateway.networking.k8s.io/v1",
          kind: "HTTPRoute",
          metadata: {
            name: HTTPS_REDIRECT_ROUTE,
            namespace: args.namespace,
            labels: { "app.kubernetes.io/part-of": "im-platform" },
          },
          spec: {
            parentRefs: [{ name: GATEWAY_NAME, sectionName: HTTP_LISTENER }],
            hostnames: [https.hostname],
            // No port: the redirect takes the scheme's well-known one (443), not the entry point's.
            rules: [{ filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } }] }],
          },
        },
        { parent: this, provider: args.provider, dependsOn: [this.gateway] },
      );
    this.registerOutputs({ name: this.name, address: this.address });
  }
}

function firstAddress(status: unknown): string {
  if (status === null || typeof status !== "object") return "";
  const addresses = (status as { addresses?: unknown }).addresses;
  if (!Array.isArray(addresses)) return "";
  const value = (addresses[0] as { value?: unknown } | undefined)?.value;
  return typeof value === "string" ? value : "";
}
