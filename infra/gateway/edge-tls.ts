/**
 * TLS at the public edge: a cert-manager ClusterIssuer on an ACME CA (Let's Encrypt) that solves HTTP-01 through the
 * ingress class, so the platform's Ingress gets a trusted certificate for its host and renews it; ingress-nginx
 * terminates TLS with it and redirects plain HTTP to HTTPS (the Ingress's annotations, infra/services/im-service.ts).
 * Clients authenticate the WebSocket with a token: it must never cross the internet on port 80.
 * The load balancer passes TCP through (ports 443 and 80: the redirect and the ACME challenge), so one design serves
 * both clouds; ACM would need an AWS-only NLB TLS listener and Alibaba Cloud's certificate service another path.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export const ACME_SERVERS = {
  letsencrypt: "https://acme-v02.api.letsencrypt.org/directory",
  "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
} as const;

/** The ClusterIssuer the edge Ingress names, and the Secret its certificate is written to (in the services' namespace). */
export const EDGE_ISSUER = "im-acme";
export const EDGE_TLS_SECRET = "im-edge-tls";

export interface EdgeTlsArgs {
  acmeEmail: string;
  acmeServer: keyof typeof ACME_SERVERS;
  /** The ingress class that serves the HTTP-01 challenge. */
  ingressClassName: string;
  provider: k8s.Provider;
}

export class EdgeTls extends pulumi.ComponentResource {
  readonly issuerName: string = EDGE_ISSUER;
  readonly secretName: string = EDGE_TLS_SECRET;

  constructor(name: string, args: EdgeTlsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:gateway:EdgeTls", name, {}, opts);
    new k8s.apiextensions.CustomResource(
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
            solvers: [{ http01: { ingress: { ingressClassName: args.ingressClassName } } }],
          },
        },
      },
      { parent: this, provider: args.provider },
    );
    this.registerOutputs({ issuerName: this.issuerName });
  }
}
