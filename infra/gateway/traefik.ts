/**
 * The clouds' Gateway API implementation: Traefik Proxy behind the cloud's network load balancer (the only resource
 * with a world-open listener, through the lb security group). It replaces ingress-nginx, retired in March 2026 (no
 * releases, no security fixes). Why Traefik: it is maintained, conformant to the Gateway API v1.4 standard channel
 * (weighted backendRefs, which `imctl rollout` moves, and WebSocket upgrades), it is the implementation the embedded
 * cluster runs (cli/src/cluster/node/addons.ts), so the tests exercise what production runs, and it is one Go binary.
 *
 * What it declares: the Gateway API standard CRDs (a separate step from the release's URL, not the chart's crds/,
 * which Helm installs once and never upgrades), the Traefik chart with only the `kubernetesGateway` provider
 * (Ingress and IngressRoute providers off, the chart's own Gateway and GatewayClass off), and the GatewayClass
 * `im-gateway` that the platform's Gateway (infra/gateway/platform-gateway.ts) names. Replicas spread over the zones
 * with a PodDisruptionBudget, in a namespace that enforces Pod Security restricted.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_GATEWAY_CLASS } from "../lib/spec-cluster.ts";
import {
  RESTRICTED_NAMESPACE_LABELS,
  restrictedContainerSecurityContext,
  restrictedPodSecurityContext,
} from "../lib/pod-security.ts";

export interface TraefikGatewayArgs {
  cloud: "aws" | "alicloud";
  /** The lb security group (AWS) / the NLB's security group (Alibaba Cloud). */
  lbSecurityGroupId: pulumi.Input<string>;
  /** The public subnets (vSwitches) per zone: Alibaba Cloud's NLB takes one per zone (zone-maps). */
  publicZones: { zone: string; subnetId: pulumi.Input<string> }[];
  /** Traefik replicas, spread over the zones; at least 2 (a PodDisruptionBudget keeps all but one up). Default 3. */
  replicas?: number;
  /** The GatewayClass to declare. Default DEFAULT_GATEWAY_CLASS (im-gateway), as on an existing cluster. */
  className?: string;
  provider: k8s.Provider;
}

/**
 * Pinned: chart 39.0.7 ships Traefik v3.6.12, the version the embedded cluster builds (tools/traefik/go.mod), so the
 * tests run the proxy production runs. Chart 40+ ships Traefik v3.7.
 */
export const TRAEFIK_CHART_VERSION = "39.0.7";
/** The proxy's version: the chart's appVersion, set explicitly so a chart bump cannot change it unseen. */
export const TRAEFIK_VERSION = "v3.6.12";
/**
 * The Gateway API release whose standard-channel CRDs are applied (base/tools.mjs has the embedded cluster's). The
 * provider fetches the manifest at deploy time: `up` must reach github.com (a preview under mocks does not).
 */
export const GATEWAY_API_VERSION = "v1.4.0";
const GATEWAY_API_RELEASES = "https://github.com/kubernetes-sigs/gateway-api/releases/download";
export const GATEWAY_API_CRDS_URL = `${GATEWAY_API_RELEASES}/${GATEWAY_API_VERSION}/standard-install.yaml`;
export const TRAEFIK_NAMESPACE = "im-traffic";
export const TRAEFIK_CONTROLLER = "traefik.io/gateway-controller";
/**
 * The entry points' container ports (the chart's defaults: unprivileged, no capability or sysctl needed). Traefik
 * serves a Gateway listener on the entry point with the listener's port, so the platform's Gateway uses these; the
 * load balancer's Service maps 80 and 443 to them.
 */
export const TRAEFIK_WEB_PORT = 8000;
export const TRAEFIK_WEBSECURE_PORT = 8443;
/** The chart's metrics entry point (container port name "metrics"). */
export const TRAEFIK_METRICS_PORT = 9100;
/** The release name, fixed so the chart's pod labels (and the spread constraint's selector) are known. */
const RELEASE_NAME = "traefik";
/** The Traefik image's unprivileged user (the chart's default). */
const TRAEFIK_UID = 65532;
/** The labels the chart puts on Traefik's pods. */
export const TRAEFIK_POD_LABELS: Readonly<Record<string, string>> = {
  "app.kubernetes.io/name": "traefik",
  "app.kubernetes.io/instance": `${RELEASE_NAME}-${TRAEFIK_NAMESPACE}`,
};
/** The load balancer class ACK's cloud controller manager turns into a Network Load Balancer (CCM 2.5.0+). */
export const ALICLOUD_NLB_CLASS = "alibabacloud.com/nlb";

export class TraefikGateway extends pulumi.ComponentResource {
  /** The GatewayClass the platform's Gateway names. */
  readonly className: string;
  readonly release: k8s.helm.v3.Release;
  /** The Gateway API CRDs: anything declaring a Gateway or an HTTPRoute (or cert-manager's solver) depends on them. */
  readonly crds: k8s.yaml.v2.ConfigFile;

  constructor(name: string, args: TraefikGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:gateway:Traefik", name, {}, opts);
    const replicas = args.replicas ?? 3;
    if (!Number.isInteger(replicas) || replicas < 2)
      throw new RangeError(`replicas: got ${replicas}; allowed: a whole number of at least 2 (one zone may fail)`);
    this.className = args.className ?? DEFAULT_GATEWAY_CLASS;
    const on = { parent: this, provider: args.provider };
    this.crds = new k8s.yaml.v2.ConfigFile(`${name}-gateway-api-crds`, { file: GATEWAY_API_CRDS_URL }, on);
    const namespace = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      {
        metadata: {
          name: TRAEFIK_NAMESPACE,
          labels: { ...RESTRICTED_NAMESPACE_LABELS, "app.kubernetes.io/part-of": "im-platform" },
        },
      },
      on,
    );
    // WebSocket sessions last hours: no read or write deadline on either entry point (Traefik's readTimeout default
    // of 60 s would cut every idle client); idle keep-alive connections still close after 3 minutes.
    const transport = { respondingTimeouts: { readTimeout: "0s", writeTimeout: "0s", idleTimeout: "180s" } };
    this.release = new k8s.helm.v3.Release(
      name,
      {
        name: RELEASE_NAME,
        chart: "traefik",
        version: TRAEFIK_CHART_VERSION,
        repositoryOpts: { repo: "https://traefik.github.io/charts" },
        namespace: namespace.metadata.name,
        // The CRDs come from the Gateway API release above (the chart's would never be upgraded).
        skipCrds: true,
        values: {
          image: { tag: TRAEFIK_VERSION },
          deployment: { replicas },
          podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
          nodeSelector: { "im/tier": "app" },
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: "topology.kubernetes.io/zone",
              whenUnsatisfiable: "DoNotSchedule",
              labelSelector: { matchLabels: TRAEFIK_POD_LABELS },
            },
          ],
          podSecurityContext: restrictedPodSecurityContext(TRAEFIK_UID),
          securityContext: restrictedContainerSecurityContext(),
          providers: {
            kubernetesGateway: { enabled: true },
            kubernetesIngress: { enabled: false },
            // IngressRoute and friends are Traefik's own CRDs, not installed (skipCrds): the Gateway API only.
            kubernetesCRD: { enabled: false },
          },
          // The platform declares its own GatewayClass (below) and Gateway (PlatformGateway).
          gateway: { enabled: false },
          gatewayClass: { enabled: false },
          ingressClass: { enabled: false },
          ports: {
            web: { port: TRAEFIK_WEB_PORT, exposedPort: 80, transport },
            websecure: { port: TRAEFIK_WEBSECURE_PORT, exposedPort: 443, transport },
            metrics: { port: TRAEFIK_METRICS_PORT },
          },
          service: {
            type: "LoadBalancer",
            annotations: loadBalancerAnnotations(args),
            // Local: the client's address reaches Traefik, and the NLB's health checks skip nodes without a replica.
            spec: {
              externalTrafficPolicy: "Local",
              ...(args.cloud === "alicloud" ? { loadBalancerClass: ALICLOUD_NLB_CLASS } : {}),
            },
          },
          // No access log: a request's URL would land in it, and a client that still puts its token in the URL
          // (answered 400 by the token-refusal route, infra/services/im-service.ts) would leave it there.
          logs: { access: { enabled: false } },
          // No dashboard API: nothing operates Traefik through it, and it would be one more internal endpoint.
          api: { dashboard: false },
          global: { checkNewVersion: false, sendAnonymousUsage: false },
        },
      },
      { ...on, dependsOn: [this.crds] },
    );
    new k8s.apiextensions.CustomResource(
      `${name}-class`,
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "GatewayClass",
        metadata: { name: this.className, labels: { "app.kubernetes.io/part-of": "im-platform" } },
        spec: { controllerName: TRAEFIK_CONTROLLER },
      },
      { ...on, dependsOn: [this.crds] },
    );
    this.registerOutputs({ className: this.className, releaseName: this.release.name });
  }
}

/** The Service annotations that make the cloud build an internet-facing NLB behind the lb security group. */
function loadBalancerAnnotations(args: TraefikGatewayArgs): Record<string, pulumi.Input<string>> {
  if (args.cloud === "aws")
    return {
      // "external": the AWS Load Balancer Controller builds the NLB, with IP targets (the pods themselves).
      "service.beta.kubernetes.io/aws-load-balancer-type": "external",
      "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
      "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
      "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
      "service.beta.kubernetes.io/aws-load-balancer-security-groups": args.lbSecurityGroupId,
    };
  // An NLB (spec.loadBalancerClass; without it the CCM builds a Classic Load Balancer, which takes no security
  // group). Annotations as ACK's CCM (2.6.0+) reads them for an NLB: the zones with one public vSwitch each,
  // internet-facing, and the lb security group on its listeners.
  return {
    "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-zone-maps": pulumi
      .all(args.publicZones.map((z) => pulumi.interpolate`${z.zone}:${z.subnetId}`))
      .apply((maps) => maps.join(",")),
    "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "internet",
    "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-security-group-ids": args.lbSecurityGroupId,
  };
}
