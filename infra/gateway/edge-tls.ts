/**
 * TLS at the public edge: a cert-manager ClusterIssuer on an ACME CA (Let's Encrypt) that solves HTTP-01 through the
 * platform Gateway's HTTP listener (cert-manager attaches its own HTTPRoute for the challenge path), and a Certificate
 * for the host whose Secret the Gateway's HTTPS listener serves (infra/gateway/platform-gateway.ts); Traefik
 * terminates TLS with it, and the HTTP listener redirects everything else to HTTPS. cert-manager runs with its
 * Gateway API support on (infra/cluster/cert-manager.ts), which the HTTPRoute solver needs.
 * Clients authenticate the WebSocket with a token: it must never cross the internet on port 80.
 * The load balancer passes TCP through (ports 443 and 80: the redirect and the ACME challenge), so one design serves
 * both clouds; ACM would need an AWS-only NLB TLS listener and Alibaba Cloud's certificate service another path.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GATEWAY_NAME, HTTP_LISTENER } from "./platform-gateway.ts";

export const ACME_SERVERS = {
  letsencrypt: "https://acme-v02.api.letsencrypt.org/directory",
  "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
} as const;

/** The ClusterIssuer of the edge certificate, and the Secret it is written to (in the Gateway's namespace). */
export const EDGE_ISSUER = "im-acme";
export const EDGE_TLS_SECRET = "im-edge-tls";
/**
 * The Certificate. Not named after its Secret: cert-manager's ingress-shim named the one it made for the former
 * Ingresses that way, and it lives until those are deleted at the end of the `up` that moves a stack here. The Secret
 * stays the same, so the HTTPS listener serves the certificate already issued while the move runs.
 */
export const EDGE_CERTIFICATE = "im-edge";

export interface EdgeTlsArgs {
  acmeEmail: string;
  acmeServer: keyof typeof ACME_SERVERS;
  /** The public host name the certificate is for. */
  host: string;
  /** The namespace of the platform's Gateway (GATEWAY_NAME): the Certificate and its Secret live there. */
  namespace: pulumi.Input<string>;
  provider: k8s.Provider;
}

export class EdgeTls extends pulumi.ComponentResource {
  readonly issuerName: string = EDGE_ISSUER;
  readonly secretName: string = EDGE_TLS_SECRET;

  constructor(name: string, args: EdgeTlsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:gateway:EdgeTls", name, {}, opts);
    const on = { parent: this, provider: args.provider };
    const issuer = new k8s.apiextensions.CustomResource(
      `${name}-issuer`,
      {
        apiVersion: "cert-manager.io/v1",
        kind: "ClusterIssuer",
        metadata: { name: EDGE_ISSUER },
        spec: {
          acme: {
            server: ACME_SERVERS[args.acmeServer],
            email: args.acmeEmail,
            privateKeySecretRef: { name: `${EDGE_ISSUER}-account` },
            solvers: [
              {
                http01: {
                  gatewayHTTPRoute: {
                    parentRefs: [
                      { kind: "Gateway", name: GATEWAY_NAME, namespace: args.namespace, sectionName: HTTP_LISTENER },
                    ],
                  },
                },
              },
            ],
          },
        },
      },
      on,
    );
    // A Certificate rather than the gateway-shim annotation: what is requested (host, issuer, Secret) is declared
    // here and visible in the plan, and the shim would need the listener's hostname to match exactly anyway.
    new k8s.apiextensions.CustomResource(
      `${name}-certificate`,
      {
        apiVersion: "cert-manager.io/v1",
        kind: "Certificate",
        metadata: { name: EDGE_CERTIFICATE, namespace: args.namespace },
        spec: {
          secretName: EDGE_TLS_SECRET,
          dnsNames: [args.host],
          issuerRef: { name: EDGE_ISSUER, kind: "ClusterIssuer" },
          // A new key at every renewal (cert-manager 1.18's default; 1.17 keeps the old one unless told).
          privateKey: { rotationPolicy: "Always" },
        },
      },
      { ...on, dependsOn: [issuer] },
    );
    this.registerOutputs({ issuerName: this.issuerName, secretName: this.secretName });
  }
}
