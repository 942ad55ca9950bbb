/**
 * The canary track on the kubernetes target, against the objects infra/services/im-service.ts declares:
 * Deployments `<service>-stable` and `<service>-canary` (container `<service>`), and for services clients reach from
 * outside (gateway, user-center) a Gateway API HTTPRoute `<service>` whose rule sends to the Services `<service>`
 * and `<service>-canary` by backendRef weight: the canary weight is that weight, which imctl owns (the program ignores
 * later changes to it). A weight counts once the route's controller has accepted the route at that generation.
 * Internal services (message) have no route: their Service selects both tracks, so the canary's share is its share
 * of the pods, and a weight is set by scaling the canary against the stable replica count.
 *
 * Every call goes through `KubeApi`, a narrow interface: `clientNodeApi` adapts @kubernetes/client-node 1.3.0,
 * the unit tests put a recording fake in its place, and the integration tests run it against the embedded cluster.
 */
import { InternalError, UserError } from "../../errors.ts";
import { sleep } from "../../../../base/sleep.ts";
import type { CanaryStatus, CanaryTrack, ReleaseSpec, RolloutTarget, ServiceName } from "../target.ts";
import type { KubeConfig } from "@kubernetes/client-node";
import type { KubernetesAccess } from "./access.ts";
import { ROUTE_API, routeWeightPatch, routeWeights, type HttpRoute, type RouteWeights } from "./route.ts";

export { routeWeightPatch, routeWeights, type HttpRoute, type RouteWeights } from "./route.ts";

/** Where promotion records the stable image it replaced, for `imctl rollout undo`. */
export const PREVIOUS_IMAGE_ANNOTATION = "im-platform/previous-image";

export interface DeploymentView {
  generation: number;
  replicas: number;
  image: string;
  env: Record<string, string>;
  annotations: Record<string, string>;
  status: { observedGeneration: number; replicas: number; readyReplicas: number; updatedReplicas: number };
}

/** The Kubernetes calls a rollout makes. `null` from a read means 404. */
export interface KubeApi {
  readDeployment(namespace: string, name: string, container: string): Promise<DeploymentView | null>;
  /** Strategic merge patch (containers and env merge by name). */
  patchDeployment(namespace: string, name: string, patch: Record<string, unknown>): Promise<void>;
  /** The HTTPRoute `name`'s weights between Services `stableService` and `canaryService`; null: no such route. */
  readRouteWeights(
    namespace: string,
    name: string,
    stableService: string,
    canaryService: string,
  ): Promise<RouteWeights | null>;
  /** Sets those weights in every rule that names both Services (a JSON patch that tests the names first). */
  setRouteWeights(
    namespace: string,
    name: string,
    stableService: string,
    canaryService: string,
    weights: { stable: number; canary: number },
  ): Promise<void>;
}

export interface KubernetesCanaryOptions {
  namespace: string;
  /** Overrides the repository taken from the stable Deployment's image. */
  imageRepo?: string;
  /** Poll interval and bound while waiting for Deployments. Defaults 2 s and 10 min. */
  pollMs?: number;
  timeoutMs?: number;
  /** Bound on a route's controller accepting new weights. Default ROUTE_TIMEOUT_MS (30 s). */
  routeTimeoutMs?: number;
}

/** How long a Gateway API controller may take to accept a route's new weights. */
export const ROUTE_TIMEOUT_MS = 30_000;

/** The canary's percent of a route's split (weights are relative: 1 and 3 is 25 %). */
export function routeShare(r: { stable: number; canary: number }): number {
  const total = r.stable + r.canary;
  return total === 0 ? 0 : Math.round((100 * r.canary) / total);
}

const deploymentName = (service: string, track: "stable" | "canary") => `${service}-${track}`;

function imageFor(stableImage: string, service: string, version: string, repo?: string): string {
  if (repo !== undefined) return `${repo.replace(/\/$/, "")}/${service}:${version}`;
  // registry:5000/im/gateway:1.2.3 -> registry:5000/im/gateway:<version> (a port's colon is before the last slash)
  const slash = stableImage.lastIndexOf("/");
  const colon = stableImage.lastIndexOf(":");
  const base = colon > slash ? stableImage.slice(0, colon) : stableImage;
  return `${base.split("@")[0]}:${version}`;
}

export class KubernetesCanaryTrack implements CanaryTrack {
  constructor(
    private readonly api: KubeApi,
    private readonly o: KubernetesCanaryOptions,
  ) {}

  supports(_service: ServiceName): void {
    // Every service has a canary Deployment on kubernetes.
  }

  async preflight(service: ServiceName): Promise<void> {
    // One after the other, stable first: the error names the same missing Deployment every time.
    await this.deployment(service, "stable");
    await this.deployment(service, "canary");
  }

  private async deployment(service: string, track: "stable" | "canary"): Promise<DeploymentView> {
    const d = await this.api.readDeployment(this.o.namespace, deploymentName(service, track), service);
    if (!d)
      throw new UserError(
        `deployment ${this.o.namespace}/${deploymentName(service, track)} not found: is the stack deployed (pulumi up) and --namespace right?`,
      );
    return d;
  }

  /** The weight lives on the service's HTTPRoute when it has one; otherwise in the pod ratio. */
  private async route(service: string): Promise<RouteWeights | null> {
    return this.api.readRouteWeights(this.o.namespace, service, service, `${service}-canary`);
  }

  /**
   * Sets the route's weights, then reads them back until the route says them and its controller has accepted that
   * generation: only then does the new split carry traffic, so only then does a step count.
   */
  private async setRoute(service: string, canary: number): Promise<void> {
    const want = { stable: 100 - canary, canary };
    await this.api.setRouteWeights(this.o.namespace, service, service, `${service}-canary`, want);
    const deadline = Date.now() + (this.o.routeTimeoutMs ?? ROUTE_TIMEOUT_MS);
    for (;;) {
      const r = await this.route(service);
      if (r === null) throw new InternalError(`httproute ${this.o.namespace}/${service} disappeared during a rollout`);
      if (r.stable === want.stable && r.canary === want.canary && r.accepted) return;
      if (Date.now() > deadline)
        throw new InternalError(
          `httproute ${this.o.namespace}/${service}: weights ${r.stable}/${r.canary} (want ${want.stable}/${want.canary}), ` +
            `not accepted by its Gateway's controller after ${(this.o.routeTimeoutMs ?? ROUTE_TIMEOUT_MS) / 1000} s: ${r.detail}`,
        );
      await sleep(Math.min(this.o.pollMs ?? 2000, 500));
    }
  }

  async status(service: ServiceName): Promise<CanaryStatus> {
    const [stable, canary, route] = await Promise.all([
      this.deployment(service, "stable"),
      this.deployment(service, "canary"),
      this.route(service),
    ]);
    const version = (d: DeploymentView) => d.env.SERVICE_VERSION ?? d.image.slice(d.image.lastIndexOf(":") + 1);
    const podShare =
      canary.replicas === 0 ? 0 : Math.round((100 * canary.replicas) / (canary.replicas + stable.replicas));
    return {
      stableVersion: version(stable),
      version: canary.replicas > 0 ? version(canary) : null,
      replicas: canary.replicas,
      ready: canary.status.readyReplicas,
      weight: route ? routeShare(route) : podShare,
    };
  }

  private podPatch(service: string, image: string, release: ReleaseSpec): Record<string, unknown> {
    const env = [
      { name: "SERVICE_VERSION", value: release.version },
      ...Object.entries(release.env).map(([name, value]) => ({ name, value })),
    ];
    return { template: { spec: { containers: [{ name: service, image, env }] } } };
  }

  async deploy(
    service: ServiceName,
    release: ReleaseSpec,
    replicas: number,
    progress: (line: string) => void,
  ): Promise<void> {
    // Both Deployments must exist before anything is patched.
    const [stable] = await Promise.all([this.deployment(service, "stable"), this.deployment(service, "canary")]);
    const image = imageFor(stable.image, service, release.version, this.o.imageRepo);
    if ((await this.route(service)) !== null) await this.setRoute(service, 0);
    await this.api.patchDeployment(this.o.namespace, deploymentName(service, "canary"), {
      spec: { replicas, ...this.podPatch(service, image, release) },
    });
    progress(`${deploymentName(service, "canary")}: ${image} x${replicas}`);
    await this.waitRolledOut(service, "canary", replicas);
    progress(`${deploymentName(service, "canary")}: ${replicas} ready`);
  }

  async setWeight(service: ServiceName, weight: number): Promise<void> {
    if (!Number.isInteger(weight) || weight < 0 || weight > 100)
      throw new UserError(`canaryWeight: got ${JSON.stringify(weight)}; allowed: a whole number from 0 to 100`);
    if ((await this.route(service)) !== null) {
      // A step counts only with the canary's pods Ready: a weight on a backend without endpoints is lost traffic.
      const canary = await this.deployment(service, "canary");
      if (weight > 0) await this.waitRolledOut(service, "canary", canary.replicas);
      await this.setRoute(service, weight);
      return;
    }
    // No route: the Service spreads over both tracks' pods, so the weight is the canary's share of them.
    const stable = await this.deployment(service, "stable");
    const replicas =
      weight === 0
        ? 0
        : weight === 100
          ? Math.max(1, stable.replicas)
          : Math.max(1, Math.round((stable.replicas * weight) / (100 - weight)));
    await this.api.patchDeployment(this.o.namespace, deploymentName(service, "canary"), { spec: { replicas } });
    if (replicas > 0) await this.waitRolledOut(service, "canary", replicas);
  }

  async remove(service: ServiceName, progress: (line: string) => void): Promise<void> {
    // Off the route first, then scaled down: the preStop pause covers the controller's reconfiguration.
    if ((await this.route(service)) !== null) await this.setRoute(service, 0);
    // Scaling to 0 sends each canary pod SIGTERM after its preStop delay: gateways drain their clients onto stable.
    await this.api.patchDeployment(this.o.namespace, deploymentName(service, "canary"), { spec: { replicas: 0 } });
    progress(`${deploymentName(service, "canary")}: weight 0, scaled to 0 (pods drain)`);
    await this.waitScaledDown(service);
  }

  async promote(service: ServiceName, progress: (line: string) => void): Promise<void> {
    const [stable, canary] = await Promise.all([
      this.deployment(service, "stable"),
      this.deployment(service, "canary"),
    ]);
    const release: ReleaseSpec = {
      version: canary.env.SERVICE_VERSION ?? canary.image.slice(canary.image.lastIndexOf(":") + 1),
      env: releaseEnv(canary.env),
    };
    if ((await this.route(service)) !== null) await this.setRoute(service, 100);
    if (stable.image !== canary.image) {
      // A rolling update of the stable track: each old pod drains its WebSockets as it goes.
      await this.api.patchDeployment(this.o.namespace, deploymentName(service, "stable"), {
        metadata: {
          annotations: { [PREVIOUS_IMAGE_ANNOTATION]: `${stable.image}|${stable.env.SERVICE_VERSION ?? ""}` },
        },
        spec: this.podPatch(service, canary.image, release),
      });
      progress(`${deploymentName(service, "stable")}: rolling update to ${canary.image}`);
    }
    await this.waitRolledOut(service, "stable", stable.replicas);
    await this.remove(service, progress);
  }

  async undo(service: ServiceName, progress: (line: string) => void): Promise<ReleaseSpec> {
    const stable = await this.deployment(service, "stable");
    const prev = stable.annotations[PREVIOUS_IMAGE_ANNOTATION];
    if (!prev)
      throw new UserError(
        `no earlier release of ${service} to go back to: undo restores the release before the last promotion`,
      );
    const [image = "", version = ""] = prev.split("|");
    const release: ReleaseSpec = { version: version || image.slice(image.lastIndexOf(":") + 1), env: {} };
    await this.api.patchDeployment(this.o.namespace, deploymentName(service, "stable"), {
      metadata: { annotations: { [PREVIOUS_IMAGE_ANNOTATION]: `${stable.image}|${stable.env.SERVICE_VERSION ?? ""}` } },
      spec: this.podPatch(service, image, release),
    });
    progress(`${deploymentName(service, "stable")}: rolling back to ${image}`);
    await this.waitRolledOut(service, "stable", stable.replicas);
    return release;
  }

  private async waitRolledOut(service: string, track: "stable" | "canary", replicas: number): Promise<void> {
    const deadline = Date.now() + (this.o.timeoutMs ?? 600_000);
    for (;;) {
      const d = await this.deployment(service, track);
      const s = d.status;
      if (
        s.observedGeneration >= d.generation &&
        s.updatedReplicas >= replicas &&
        s.readyReplicas >= replicas &&
        s.replicas === replicas
      )
        return;
      if (Date.now() > deadline)
        throw new InternalError(
          `${deploymentName(service, track)}: ${s.readyReplicas}/${replicas} ready after ${(this.o.timeoutMs ?? 600_000) / 1000} s`,
        );
      await sleep(this.o.pollMs ?? 2000);
    }
  }

  private async waitScaledDown(service: string): Promise<void> {
    const deadline = Date.now() + (this.o.timeoutMs ?? 600_000);
    for (;;) {
      const d = await this.deployment(service, "canary");
      if (d.status.replicas === 0) return;
      if (Date.now() > deadline)
        throw new InternalError(
          `${deploymentName(service, "canary")}: still ${d.status.replicas} pod(s) after scaling to 0`,
        );
      await sleep(this.o.pollMs ?? 2000);
    }
  }
}

/** The extra environment a canary was started with: everything but what infra sets for every pod. */
function releaseEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.includes("_FAULT_")) out[k] = v;
  return out;
}

/** @kubernetes/client-node 1.3.0 behind KubeApi. */
export async function clientNodeApi(kc: KubeConfig): Promise<KubeApi> {
  const k8s = await import("@kubernetes/client-node");
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const notFound = (err: unknown) =>
    typeof err === "object" && err !== null && "code" in err && (err as { code: unknown }).code === 404;
  return {
    async readDeployment(namespace, name, container) {
      try {
        const d = await apps.readNamespacedDeployment({ name, namespace });
        const c =
          d.spec?.template.spec?.containers.find((x) => x.name === container) ?? d.spec?.template.spec?.containers[0];
        return {
          generation: d.metadata?.generation ?? 0,
          replicas: d.spec?.replicas ?? 0,
          image: c?.image ?? "",
          env: Object.fromEntries((c?.env ?? []).flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]]))),
          annotations: d.metadata?.annotations ?? {},
          status: {
            observedGeneration: d.status?.observedGeneration ?? 0,
            replicas: d.status?.replicas ?? 0,
            readyReplicas: d.status?.readyReplicas ?? 0,
            updatedReplicas: d.status?.updatedReplicas ?? 0,
          },
        };
      } catch (err) {
        if (notFound(err)) return null;
        throw err;
      }
    },
    async patchDeployment(namespace, name, patch) {
      await apps.patchNamespacedDeployment(
        { name, namespace, body: patch },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch),
      );
    },
    async readRouteWeights(namespace, name, stableService, canaryService) {
      let route: HttpRoute;
      try {
        route = (await custom.getNamespacedCustomObject({ ...ROUTE_API, namespace, name })) as HttpRoute;
      } catch (err) {
        if (notFound(err)) return null;
        throw err;
      }
      return routeWeights(route, stableService, canaryService);
    },
    async setRouteWeights(namespace, name, stableService, canaryService, weights) {
      const route = (await custom.getNamespacedCustomObject({ ...ROUTE_API, namespace, name })) as HttpRoute;
      const body = routeWeightPatch(route, stableService, canaryService, weights);
      await custom.patchNamespacedCustomObject(
        { ...ROUTE_API, namespace, name, body },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
      );
    },
  };
}

export const ROLLOUT_MESSAGES = {
  noPrometheus: (stack: string) =>
    `--prometheus: got nothing, and ${stack} names no kubernetes.prometheus; allowed: the Prometheus base URL the ` +
    "analysis queries (e.g. http://127.0.0.1:9090 through kubectl port-forward), or kubernetes.prometheus in the stack",
} as const;

/** The rollout's view of the kubernetes target: canary track, the stack's Prometheus, the target's lock and state. */
export async function kubernetesRolloutTarget(access: KubernetesAccess): Promise<RolloutTarget> {
  const prometheus = access.prometheus;
  if (prometheus === null) throw new UserError(ROLLOUT_MESSAGES.noPrometheus(access.stack));
  const track = new KubernetesCanaryTrack(await clientNodeApi(access.kc), {
    namespace: access.namespace,
    imageRepo: access.imageRepo,
  });
  return {
    kind: "kubernetes" as const,
    stateDir: access.stateDir,
    withLock: access.withLock,
    query: (promql: string) => prometheus.query(promql),
    canary: () => track,
  };
}
