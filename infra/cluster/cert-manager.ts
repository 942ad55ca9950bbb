/**
 * cert-manager (Helm, CRDs included and kept on uninstall): it issues and renews the certificates of the data tier's
 * TLS (infra/data/tidb-tls.ts) and of the public edge (infra/gateway/edge-tls.ts). Two replicas of the controller
 * and the webhook on the app nodes, so a node drain does not stop renewals or block the creation of certificates.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export interface CertManagerArgs {
  /**
   * Turn on cert-manager's Gateway API support (the HTTP-01 solver through an HTTPRoute, infra/gateway/edge-tls.ts).
   * The Gateway API CRDs must exist before cert-manager starts: order this component after them. Default false.
   */
  gatewayApi?: boolean;
  provider: k8s.Provider;
}

/** Pinned: the cert-manager.io/v1 API and the `crds.enabled` value of the 1.15+ charts. */
export const CERT_MANAGER_CHART_VERSION = "v1.17.3";
export const CERT_MANAGER_NAMESPACE = "cert-manager";

export class CertManager extends pulumi.ComponentResource {
  readonly namespace: string = CERT_MANAGER_NAMESPACE;
  readonly release: k8s.helm.v3.Release;

  constructor(name: string, args: CertManagerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:cluster:CertManager", name, {}, opts);
    this.release = new k8s.helm.v3.Release(
      name,
      {
        chart: "cert-manager",
        version: CERT_MANAGER_CHART_VERSION,
        repositoryOpts: { repo: "https://charts.jetstack.io" },
        namespace: CERT_MANAGER_NAMESPACE,
        createNamespace: true,
        values: {
          crds: { enabled: true, keep: true },
          replicaCount: 2,
          webhook: { replicaCount: 2 },
          nodeSelector: { "im/tier": "app" },
          podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
          ...(args.gatewayApi === true
            ? {
                config: {
                  apiVersion: "controller.config.cert-manager.io/v1alpha1",
                  kind: "ControllerConfiguration",
                  enableGatewayAPI: true,
                },
              }
            : {}),
        },
      },
      { parent: this, provider: args.provider },
    );
    this.registerOutputs({ releaseName: this.release.name });
  }
}
