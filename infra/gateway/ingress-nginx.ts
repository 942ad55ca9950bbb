/**
 * The platform's front door: ingress-nginx behind the cloud's network load balancer (the only resource with a
 * world-open listener, through the lb security group), three controller replicas spread over the zones, and
 * WebSocket-friendly settings. Its canary annotations are how the services' canary Ingresses take a weight.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export interface IngressNginxArgs {
  cloud: "aws" | "alicloud";
  /** The lb security group (AWS) / the SLB's security group (Alibaba Cloud). */
  lbSecurityGroupId: pulumi.Input<string>;
  /** The public subnets (vSwitches) per zone: Alibaba Cloud's NLB takes one per zone (zone-maps). */
  publicZones: { zone: string; subnetId: pulumi.Input<string> }[];
  replicas?: number;
  /** How long an old worker keeps its WebSocket connections after a reload, seconds. Default 600. */
  workerShutdownTimeoutSeconds?: number;
  provider: k8s.Provider;
}

/**
 * Pinned: the controller's behaviour (annotations, reload semantics) changes between chart versions. 4.12.7
 * (controller v1.12.7) is the last patch of the 4.12 line, with the line's security fixes since 4.12.1.
 */
export const INGRESS_NGINX_CHART_VERSION = "4.12.7";
/** The load balancer class ACK's cloud controller manager turns into a Network Load Balancer (CCM 2.5.0+). */
export const ALICLOUD_NLB_CLASS = "alibabacloud.com/nlb";

export class IngressNginx extends pulumi.ComponentResource {
  readonly releaseName: pulumi.Output<string>;

  constructor(name: string, args: IngressNginxArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:gateway:IngressNginx", name, {}, opts);
    const annotations: Record<string, pulumi.Input<string>> = args.cloud === "aws"
      ? {
          // "external": the AWS Load Balancer Controller builds the NLB, with IP targets (the pods themselves).
          "service.beta.kubernetes.io/aws-load-balancer-type": "external",
          "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
          "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
          "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
          "service.beta.kubernetes.io/aws-load-balancer-security-groups": args.lbSecurityGroupId,
        }
      : {
          // An NLB (spec.loadBalancerClass below; without it the CCM builds a Classic Load Balancer, which takes no
          // security group). Annotations as ACK's CCM (2.6.0+) reads them for an NLB: the zones with one public
          // vSwitch each, internet-facing, and the lb security group on its listeners.
          "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-zone-maps": pulumi
            .all(args.publicZones.map((z) => pulumi.interpolate`${z.zone}:${z.subnetId}`))
            .apply((maps) => maps.join(",")),
          "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "internet",
          "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-security-group-ids": args.lbSecurityGroupId,
        };
    const labels = { "app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller" };
    const release = new k8s.helm.v3.Release(
      name,
      {
        chart: "ingress-nginx",
        version: INGRESS_NGINX_CHART_VERSION,
        repositoryOpts: { repo: "https://kubernetes.github.io/ingress-nginx" },
        namespace: "ingress-nginx",
        createNamespace: true,
        values: {
          controller: {
            replicaCount: args.replicas ?? 3,
            ingressClassResource: { name: "nginx", default: true },
            nodeSelector: { "im/tier": "app" },
            topologySpreadConstraints: [
              {
                maxSkew: 1,
                topologyKey: "topology.kubernetes.io/zone",
                whenUnsatisfiable: "DoNotSchedule",
                labelSelector: { matchLabels: labels },
              },
            ],
            config: {
              // A reload must not cut WebSocket clients: old workers keep them this long.
              "worker-shutdown-timeout": `${args.workerShutdownTimeoutSeconds ?? 600}s`,
              "use-forwarded-headers": "true",
            },
            service: {
              externalTrafficPolicy: "Local",
              annotations,
              ...(args.cloud === "alicloud" ? { loadBalancerClass: ALICLOUD_NLB_CLASS } : {}),
            },
            metrics: { enabled: true },
            maxUnavailable: 1,
          },
        },
      },
      { parent: this, provider: args.provider },
    );
    this.releaseName = release.name;
    this.registerOutputs({ releaseName: this.releaseName });
  }
}
