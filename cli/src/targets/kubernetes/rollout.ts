/**
 * The canary track on the kubernetes target, against the objects infra/services/im-service.ts declares:
 * Deployments `<service>-stable` and `<service>-canary` (container `<service>`), and for services exposed
 * through ingress-nginx a canary Ingress `<service>-canary` whose `canary-weight` annotation imctl owns.
 * Internal services (message) have no Ingress: their Service selects both tracks, so the canary's share is its
 * share of the pods, and a weight is set by scaling the canary against the stable replica count.
 *
 * Every call goes through `KubeApi`, a narrow interface: `clientNodeApi` adapts @kubernetes/client-node 1.3.0,
 * the unit tests put a recording fake in its place, and test/integration/rollout-kubernetes.test.ts runs it against
 * a real kube-apiserver (built by base/install.mjs from tools/kube-apiserver) with etcd.
 */
import { mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { InternalError, UserError } from "../../errors.ts";
import { withLock } from "../../lib/lock.ts";
import { stateDir } from "../../lib/paths.ts";
import { sleep } from "../../../../base/sleep.ts";
import type { CanaryStatus, CanaryTrack, ReleaseSpec, RolloutTarget, Sample, ServiceName } from "../target.ts";

export const CANARY_WEIGHT_ANNOTATION = "nginx.ingress.kubernetes.io/canary-weight";
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
  readIngressAnnotations(namespace: string, name: string): Promise<Record<string, string> | null>;
  /** JSON merge patch of metadata.annotations. */
  patchIngressAnnotations(namespace: string, name: string, annotations: Record<string, string>): Promise<void>;
}

export interface KubernetesCanaryOptions {
  namespace: string;
  /** Overrides the repository taken from the stable Deployment's image. */
  imageRepo?: string;
  /** Poll interval and bound while waiting for Deployments. Defaults 2 s and 10 min. */
  pollMs?: number;
  timeoutMs?: number;
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

  /** The weight lives on the canary Ingress when the service has one; otherwise in the pod ratio. */
  private async ingress(service: string): Promise<Record<string, string> | null> {
    return this.api.readIngressAnnotations(this.o.namespace, deploymentName(service, "canary"));
  }

  async status(service: ServiceName): Promise<CanaryStatus> {
    const [stable, canary, ing] = await Promise.all([
      this.deployment(service, "stable"),
      this.deployment(service, "canary"),
      this.ingress(service),
    ]);
    const version = (d: DeploymentView) => d.env.SERVICE_VERSION ?? d.image.slice(d.image.lastIndexOf(":") + 1);
    const podShare =
      canary.replicas === 0 ? 0 : Math.round((100 * canary.replicas) / (canary.replicas + stable.replicas));
    return {
      stableVersion: version(stable),
      version: canary.replicas > 0 ? version(canary) : null,
      replicas: canary.replicas,
      ready: canary.status.readyReplicas,
      weight: ing ? Number(ing[CANARY_WEIGHT_ANNOTATION] ?? 0) : podShare,
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
    if ((await this.ingress(service)) !== null)
      await this.api.patchIngressAnnotations(this.o.namespace, deploymentName(service, "canary"), {
        [CANARY_WEIGHT_ANNOTATION]: "0",
      });
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
    if ((await this.ingress(service)) !== null) {
      await this.api.patchIngressAnnotations(this.o.namespace, deploymentName(service, "canary"), {
        [CANARY_WEIGHT_ANNOTATION]: String(weight),
      });
      return;
    }
    // No Ingress: the Service spreads over both tracks' pods, so the weight is the canary's share of them.
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
    if ((await this.ingress(service)) !== null)
      await this.api.patchIngressAnnotations(this.o.namespace, deploymentName(service, "canary"), {
        [CANARY_WEIGHT_ANNOTATION]: "0",
      });
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
    if ((await this.ingress(service)) !== null)
      await this.api.patchIngressAnnotations(this.o.namespace, deploymentName(service, "canary"), {
        [CANARY_WEIGHT_ANNOTATION]: "100",
      });
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
export async function clientNodeApi(context?: string): Promise<KubeApi> {
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  if (context !== undefined) kc.setCurrentContext(context);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const net = kc.makeApiClient(k8s.NetworkingV1Api);
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
    async readIngressAnnotations(namespace, name) {
      try {
        const i = await net.readNamespacedIngress({ name, namespace });
        return i.metadata?.annotations ?? {};
      } catch (err) {
        if (notFound(err)) return null;
        throw err;
      }
    },
    async patchIngressAnnotations(namespace, name, annotations) {
      await net.patchNamespacedIngress(
        { name, namespace, body: { metadata: { annotations } } },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
      );
    },
  };
}

/** Prometheus over HTTP (the kubernetes target reaches it at a URL). */
export async function prometheusQuery(base: string, promql: string): Promise<Sample[]> {
  const res = await fetch(`${base.replace(/\/$/, "")}/api/v1/query`, {
    method: "POST",
    body: new URLSearchParams({ query: promql }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as {
    status?: string;
    error?: string;
    data?: { result?: Array<{ metric: Record<string, string>; value: [number, string] }> };
  };
  if (body.status !== "success") throw new Error(`Prometheus query failed: ${body.error ?? res.status}`);
  return (body.data?.result ?? []).map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
}

/** How to reach a kubernetes target: rollout's --namespace, --context, --prometheus and --image-repo. */
export interface KubernetesOptions {
  /** Namespace of the IM services. Default "im". */
  namespace?: string;
  /** kubeconfig context. Default: the current one. */
  context?: string;
  /** Prometheus base URL the analysis queries; required. */
  prometheus?: string;
  /** Image repository of the services' images, e.g. registry.example.com/im. */
  imageRepo?: string;
}

export interface KubernetesRolloutOptions extends KubernetesOptions {
  stack: string;
}

/** The rollout's view of the kubernetes target: canary track, Prometheus, and a lock and state under the state dir. */
export async function kubernetesRolloutTarget(o: KubernetesRolloutOptions): Promise<RolloutTarget> {
  if (o.prometheus === undefined || !/^https?:\/\/\S+$/.test(o.prometheus)) {
    throw new UserError(
      `--prometheus: got ${JSON.stringify(o.prometheus ?? "nothing")}; allowed: the Prometheus base URL the analysis queries, e.g. http://127.0.0.1:9090 (kubectl port-forward)`,
    );
  }
  const prometheus = o.prometheus;
  const dir = join(stateDir(), "kubernetes", basename(o.stack).replace(/\.ya?ml$/, ""));
  mkdirSync(dir, { recursive: true });
  const track = new KubernetesCanaryTrack(await clientNodeApi(o.context), {
    namespace: o.namespace ?? "im",
    imageRepo: o.imageRepo,
  });
  return {
    kind: "kubernetes" as const,
    stateDir: dir,
    withLock: <T>(command: string, fn: () => Promise<T>) => withLock(join(dir, "lock"), command, fn),
    query: (promql: string) => prometheusQuery(prometheus, promql),
    canary: () => track,
  };
}
