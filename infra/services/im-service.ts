/**
 * One IM service on Kubernetes: a stable and a canary Deployment, an autoscaler on the stable track (CPU 80 % by
 * default), a PodDisruptionBudget, zone spreading, readiness probes and a preStop pause before the drain, and, for a
 * service clients reach from outside, a Gateway API HTTPRoute whose two backendRefs (stable and canary Services)
 * carry the canary weight (ingress-nginx, and its canary-weight annotation, were retired in March 2026).
 *
 * Ownership after creation: the autoscaler owns the stable replica count; `imctl rollout` owns the canary's image,
 * replicas and weight (the program ignores later changes to them, so `pulumi up` never undoes a rollout).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from "../lib/pod-security.ts";
import { canaryReplicas, pdbMaxUnavailable } from "../lib/sizing.ts";

export type Track = "stable" | "canary";

/**
 * How clients reach the service: through the platform's Gateway API Gateway at a path (an HTTPRoute attached to it,
 * to the listener `sectionName` when given, e.g. the HTTPS one), or only from inside the cluster.
 */
export type Exposure =
  | {
      kind: "gateway";
      host: string;
      path: string;
      gateway: GatewayRef;
    }
  | { kind: "internal" };

/** The Gateway an HTTPRoute attaches to. */
export interface GatewayRef {
  name: pulumi.Input<string>;
  namespace: pulumi.Input<string>;
  /** The listener to attach to. Default: every listener of the Gateway. */
  sectionName?: string | undefined;
}

export interface EnvVar {
  name: string;
  value?: pulumi.Input<string>;
  /** A key of the platform Secret (never a literal in the program or the stack file). */
  secretKey?: string;
  /** The Secret holding secretKey when it is not the service's own (ImServiceArgs.secretName). */
  secretName?: string;
  /** A pod field through the downward API, e.g. metadata.name. */
  fieldPath?: string;
}

export interface ImServiceArgs {
  namespace: pulumi.Input<string>;
  /** The service's name in Kubernetes and its image name: gateway, message, user-center. */
  service: string;
  image: pulumi.Input<string>;
  /** The autoscaler's floor, and the stable Deployment's initial size. */
  replicas: number;
  maxReplicas: number;
  cpuMillis: number;
  memoryMiB: number;
  /** Scale out above this average CPU utilisation of the requests. Default 80. */
  cpuUtilizationPercent?: number;
  /** Initial canary weight in percent. Default 0 (no canary pods, no canary traffic). */
  canaryWeight?: number;
  zones: number;
  exposure: Exposure;
  env: EnvVar[];
  /** Secret holding the secretKey values. */
  secretName: string;
  /** Secrets mounted read-only as files (CA certificates of the data tier). Default none. */
  secretMounts?: Array<{ name: string; secretName: string; mountPath: string }>;
  /** Seconds the process needs after SIGTERM to finish (the gateway moves its WebSocket clients). Default 10. */
  drainSeconds?: number;
  /** Container port. Default 8080 (the images' PORT). */
  port?: number;
  /** Node labels the pods must match. Default { "im/tier": "app" } (the clouds' app node groups). */
  nodeSelector?: Record<string, string>;
  /** Taints the pods tolerate. Default none. */
  tolerations?: k8s.types.input.core.v1.Toleration[];
}

/** Where the services run on the clouds' clusters. */
export const APP_NODE_SELECTOR: Readonly<Record<string, string>> = { "im/tier": "app" };
/** The images' unprivileged user. */
const SERVICE_UID = 1000;

/** Labels shared by every object of a service; `im/track` tells stable from canary. */
export function serviceLabels(service: string, track?: Track): Record<string, string> {
  return {
    "app.kubernetes.io/name": service,
    "app.kubernetes.io/part-of": "im-platform",
    ...(track ? { "im/track": track } : {}),
  };
}

/** Seconds between endpoint removal and SIGTERM: long enough for kube-proxy and the Gateway's proxy to stop routing. */
export const PRE_STOP_SECONDS = 5;

export class ImService extends pulumi.ComponentResource {
  readonly stable: k8s.apps.v1.Deployment;
  readonly canary: k8s.apps.v1.Deployment;

  constructor(name: string, args: ImServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:services:ImService", name, {}, opts);
    const child = { parent: this };
    const port = args.port ?? 8080;
    const weight = args.canaryWeight ?? 0;
    const meta = (objectName: string, track?: Track) => ({
      name: objectName,
      namespace: args.namespace,
      labels: serviceLabels(args.service, track),
    });

    this.stable = this.deployment(name, args, "stable", args.replicas, port);
    this.canary = this.deployment(name, args, "canary", canaryReplicas(args.replicas, weight), port);

    new k8s.autoscaling.v2.HorizontalPodAutoscaler(
      `${name}-hpa`,
      {
        metadata: meta(args.service, "stable"),
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: `${args.service}-stable` },
          minReplicas: args.replicas,
          maxReplicas: args.maxReplicas,
          metrics: [
            {
              type: "Resource",
              resource: {
                name: "cpu",
                target: { type: "Utilization", averageUtilization: args.cpuUtilizationPercent ?? 80 },
              },
            },
          ],
          // Scaling in closes connections (the gateway drains them): wait 5 minutes of low load first.
          behavior: {
            scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: "Pods", value: 1, periodSeconds: 60 }] },
          },
        },
      },
      child,
    );
    new k8s.policy.v1.PodDisruptionBudget(
      `${name}-pdb`,
      {
        metadata: meta(args.service, "stable"),
        spec: {
          maxUnavailable: pdbMaxUnavailable(args.replicas, args.zones),
          selector: { matchLabels: serviceLabels(args.service, "stable") },
        },
      },
      child,
    );

    const servicePorts = [{ name: "http", port, targetPort: "http" }];
    if (args.exposure.kind === "internal") {
      // Inside the cluster the Service selects both tracks: the canary's share is its share of the pods.
      new k8s.core.v1.Service(
        `${name}-svc`,
        { metadata: meta(args.service), spec: { selector: serviceLabels(args.service), ports: servicePorts } },
        child,
      );
    } else {
      this.route(name, args, args.exposure, weight, port, servicePorts);
    }
    this.registerOutputs({ stable: this.stable.metadata.name, canary: this.canary.metadata.name });
  }

  /**
   * The stable and canary Services and one HTTPRoute on the Gateway that splits the path between them by weight.
   * `imctl rollout` owns the weights after creation: the program ignores later changes to them.
   */
  private route(
    name: string,
    args: ImServiceArgs,
    ex: Extract<Exposure, { kind: "gateway" }>,
    weight: number,
    port: number,
    servicePorts: k8s.types.input.core.v1.ServicePort[],
  ): void {
    const backends: k8s.core.v1.Service[] = [];
    for (const track of ["stable", "canary"] as const) {
      const svcName = track === "stable" ? args.service : `${args.service}-canary`;
      backends.push(
        new k8s.core.v1.Service(
          `${name}-svc-${track}`,
          {
            metadata: { name: svcName, namespace: args.namespace, labels: serviceLabels(args.service, track) },
            spec: { selector: serviceLabels(args.service, track), ports: servicePorts },
          },
          { parent: this },
        ),
      );
    }
    new k8s.apiextensions.CustomResource(
      `${name}-route`,
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: args.service, namespace: args.namespace, labels: serviceLabels(args.service) },
        spec: {
          parentRefs: [parentRef(ex.gateway)],
          hostnames: [ex.host],
          rules: [
            {
              matches: [{ path: { type: "PathPrefix", value: ex.path } }],
              backendRefs: [
                { name: args.service, port, weight: 100 - weight },
                { name: `${args.service}-canary`, port, weight },
              ],
            },
          ],
        },
      },
      {
        parent: this,
        dependsOn: backends,
        ignoreChanges: ["spec.rules[0].backendRefs[0].weight", "spec.rules[0].backendRefs[1].weight"],
      },
    );
    // A route of its own, so a controller that cannot match query parameters by pattern rejects only this one and
    // the service's route stays served. More query matches on the same path win (Gateway API precedence).
    new k8s.apiextensions.CustomResource(
      `${name}-token-refusal`,
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: {
          name: `${args.service}-token-refusal`,
          namespace: args.namespace,
          labels: serviceLabels(args.service),
        },
        spec: {
          parentRefs: [parentRef(ex.gateway)],
          hostnames: [ex.host],
          rules: [tokenRefusalRule(ex.path, args.service, port)],
        },
      },
      { parent: this, dependsOn: backends },
    );
  }

  private deployment(
    name: string,
    args: ImServiceArgs,
    track: Track,
    replicas: number,
    port: number,
  ): k8s.apps.v1.Deployment {
    const labels = serviceLabels(args.service, track);
    const drain = args.drainSeconds ?? 10;
    const zoneTerm = { topologyKey: "topology.kubernetes.io/zone", labelSelector: { matchLabels: labels } };
    return new k8s.apps.v1.Deployment(
      `${name}-${track}`,
      {
        metadata: { name: `${args.service}-${track}`, namespace: args.namespace, labels },
        spec: {
          replicas,
          selector: { matchLabels: labels },
          // Never below the desired count during a rollout: a new pod is ready before an old one drains.
          strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
          template: {
            metadata: {
              labels,
              annotations: {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": String(port),
                "prometheus.io/path": "/metrics",
              },
            },
            spec: {
              nodeSelector: args.nodeSelector ?? APP_NODE_SELECTOR,
              ...(args.tolerations === undefined ? {} : { tolerations: args.tolerations }),
              terminationGracePeriodSeconds: PRE_STOP_SECONDS + drain + 10,
              topologySpreadConstraints: [{ maxSkew: 1, whenUnsatisfiable: "DoNotSchedule", ...zoneTerm }],
              affinity: {
                podAntiAffinity: {
                  preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: zoneTerm }],
                },
              },
              securityContext: restrictedPodSecurityContext(SERVICE_UID),
              containers: [
                {
                  name: args.service,
                  image: args.image,
                  ports: [{ name: "http", containerPort: port }],
                  env: [
                    { name: "PORT", value: String(port) },
                    { name: "HOST", value: "0.0.0.0" },
                    { name: "DRAIN_SECONDS", value: String(drain) },
                    ...args.env.map((e) => envVar(e, args.secretName)),
                  ],
                  resources: {
                    requests: { cpu: `${args.cpuMillis}m`, memory: `${args.memoryMiB}Mi` },
                    limits: { memory: `${args.memoryMiB}Mi` },
                  },
                  // Only Ready pods are in the endpoints the Gateway routes to (Traefik skips the rest), and
                  // /readyz says "overloaded" while the message service sheds load: asked every 2 s, out after 3
                  // failures, so a second of shedding never pulls every instance out at once (docs/local-target.md).
                  readinessProbe: {
                    httpGet: { path: "/readyz", port: "http" },
                    periodSeconds: READINESS.periodSeconds,
                    failureThreshold: READINESS.failureThreshold,
                    timeoutSeconds: 2,
                  },
                  livenessProbe: {
                    httpGet: { path: "/healthz", port: "http" },
                    periodSeconds: 10,
                    failureThreshold: 3,
                    timeoutSeconds: 2,
                    initialDelaySeconds: 10,
                  },
                  // Out of the endpoints first, then SIGTERM: no new connection lands on a pod that is draining.
                  lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SECONDS } } },
                  securityContext: restrictedContainerSecurityContext(),
                  volumeMounts: (args.secretMounts ?? []).map((m) => ({
                    name: m.name,
                    mountPath: m.mountPath,
                    readOnly: true,
                  })),
                },
              ],
              volumes: (args.secretMounts ?? []).map((m) => ({ name: m.name, secret: { secretName: m.secretName } })),
            },
          },
        },
      },
      {
        parent: this,
        ignoreChanges:
          track === "stable" ? ["spec.replicas"] : ["spec.replicas", "spec.template.spec.containers[0].image"],
      },
    );
  }
}

/** The readiness probe of every service: how often /readyz is asked, and after how many failures a pod is out. */
export const READINESS = { periodSeconds: 2, failureThreshold: 3 } as const;

/** Where the edge sends a request with `?token=` (services/lib/protocol.ts TOKEN_IN_URL_PATH): answered 400. */
export const TOKEN_IN_URL_PATH = "/edge/token-in-url";

function parentRef(g: GatewayRef): Record<string, pulumi.Input<string>> {
  return {
    name: g.name,
    namespace: g.namespace,
    ...(g.sectionName === undefined ? {} : { sectionName: g.sectionName }),
  };
}

/**
 * The edge's refusal of a token in the URL (URLs end up in proxies' logs): a request under `path` with a `token`
 * query parameter, whatever its value, goes to the stable Service with its path rewritten to TOKEN_IN_URL_PATH, which
 * every service answers 400 token_in_url (a WebSocket upgrade too). Gateway API has no filter that answers a status
 * by itself, and Traefik OSS no middleware that does, so the service is the tiny backend.
 */
export function tokenRefusalRule(path: string, service: string, port: number): Record<string, unknown> {
  return {
    matches: [
      {
        path: { type: "PathPrefix", value: path },
        queryParams: [{ type: "RegularExpression", name: "token", value: ".*" }],
      },
    ],
    filters: [
      { type: "URLRewrite", urlRewrite: { path: { type: "ReplaceFullPath", replaceFullPath: TOKEN_IN_URL_PATH } } },
    ],
    backendRefs: [{ name: service, port }],
  };
}

function envVar(e: EnvVar, secretName: string): k8s.types.input.core.v1.EnvVar {
  if (e.secretKey !== undefined)
    return { name: e.name, valueFrom: { secretKeyRef: { name: e.secretName ?? secretName, key: e.secretKey } } };
  if (e.fieldPath !== undefined) return { name: e.name, valueFrom: { fieldRef: { fieldPath: e.fieldPath } } };
  return { name: e.name, value: e.value ?? "" };
}
