/**
 * The platform's entry point on a cluster with the Gateway API (ingress-nginx was retired in March 2026): one
 * Gateway with an HTTP listener that accepts HTTPRoutes from its own namespace. The services attach their routes
 * (infra/services/im-service.ts, exposure "gateway"): /ws to gateway, /v1 to user-center, each split between the
 * stable and canary Services by backendRef weights. The cluster's Gateway API controller (the one serving
 * `className`) gives it an address; this program installs no controller.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export interface PlatformGatewayArgs {
  namespace: pulumi.Input<string>;
  /** The GatewayClass (infra/lib/spec-cluster.ts DEFAULT_GATEWAY_CLASS by default in the stack). */
  className: string;
  /** The listener's port. Default 80. */
  port?: number;
  provider: k8s.Provider;
}

/** The Gateway's name; the HTTPRoutes' parentRefs name it. */
export const GATEWAY_NAME = "im-gateway";

export class PlatformGateway extends pulumi.ComponentResource {
  readonly name: pulumi.Output<string>;
  readonly namespace: pulumi.Output<string>;
  /** The first address the controller assigned, or "" while none has (no controller serves the class). */
  readonly address: pulumi.Output<string>;
  readonly gateway: k8s.apiextensions.CustomResource;

  constructor(name: string, args: PlatformGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:gateway:PlatformGateway", name, {}, opts);
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
            { name: "http", protocol: "HTTP", port: args.port ?? 80, allowedRoutes: { namespaces: { from: "Same" } } },
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
