/**
 * How every workflow reaches a kubernetes target: the kubeconfig and context (the stack's `cluster` section for an
 * existing cluster, else the default kubeconfig), the services' namespace, the stack's Prometheus, and a state
 * directory and workflow lock of the stack's own under `<state dir>/kubernetes/<stack>/`. Opening reads the stack and
 * the kubeconfig, contacts nothing and creates nothing; the first API call and the first write are the workflow's.
 */
import { homedir } from "node:os";
import { basename, join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { REPO_ROOT } from "../../../../base/root.mjs";
import { resolveKubeconfig } from "../../../../infra/lib/spec-cluster.ts";
import { loadSpec, requireKubernetes, SpecError, type KubernetesPlatformSpec } from "../../../../infra/lib/spec.ts";
import { UserError } from "../../errors.ts";
import { withLock } from "../../lib/lock.ts";
import { stateDir } from "../../lib/paths.ts";
import type { TargetBase } from "../target.ts";
import { prometheusAt, type PrometheusClient } from "./prometheus.ts";
import { withoutCredentials } from "../../credentials.ts";

/** How to reach a kubernetes target beyond what the stack says: the rollout's --namespace, --context, ... */
export interface KubernetesOptions {
  /** Namespace of the IM services. Default: the stack's kubernetes.namespace ("im"). */
  namespace?: string;
  /** kubeconfig context. Default: the stack's cluster.context, else the kubeconfig's current one. */
  context?: string;
  /** Prometheus base URL. Default: the stack's kubernetes.prometheus (a URL or an in-cluster Service). */
  prometheus?: string;
  /** Image repository of the services' images, e.g. registry.example.com/im. Default: the stable image's. */
  imageRepo?: string;
}

export const ACCESS_MESSAGES = {
  prometheusFlag: (got: string) =>
    `--prometheus: got ${JSON.stringify(withoutCredentials(got).slice(0, 80))}; allowed: a Prometheus base URL (http:// or https://), ` +
    "e.g. http://127.0.0.1:9090",
  kubeconfig: (file: string, why: string) =>
    `kubeconfig: cannot load ${JSON.stringify(file)} (${why.slice(0, 120)}); allowed: a kubeconfig file ` +
    "(the stack's cluster.kubeconfig, or $KUBECONFIG / ~/.kube/config for a cloud stack)",
  context: (got: string, known: string[]) =>
    `--context: got ${JSON.stringify(got)}; allowed: a context of the kubeconfig (${known.join(", ") || "none"})`,
} as const;

/** A kubernetes target, opened: what every workflow's view of it shares. */
export interface KubernetesAccess extends TargetBase {
  readonly kind: "kubernetes";
  /** The stack file. */
  readonly stack: string;
  readonly spec: KubernetesPlatformSpec;
  readonly kc: KubeConfig;
  /** Namespace of the IM services. */
  readonly namespace: string;
  readonly imageRepo: string | undefined;
  /** The stack's Prometheus, or null when neither the stack nor --prometheus names one. */
  readonly prometheus: PrometheusClient | null;
}

function loadStack(stack: string): KubernetesPlatformSpec {
  try {
    return requireKubernetes(loadSpec(stack), stack);
  } catch (err) {
    if (err instanceof SpecError) throw new UserError(err.message);
    throw err;
  }
}

/** Opens a kubernetes stack for a workflow; validates flags and reads the kubeconfig, touches nothing. */
export async function kubernetesAccess(stack: string, o: KubernetesOptions = {}): Promise<KubernetesAccess> {
  if (o.prometheus !== undefined && !/^https?:\/\/\S+$/.test(o.prometheus))
    throw new UserError(ACCESS_MESSAGES.prometheusFlag(o.prometheus));
  const spec = loadStack(stack);
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  const file = spec.cluster ? resolveKubeconfig(spec.cluster.kubeconfig, REPO_ROOT, homedir()) : undefined;
  try {
    if (file !== undefined) kc.loadFromFile(file);
    else kc.loadFromDefault();
  } catch (err) {
    throw new UserError(ACCESS_MESSAGES.kubeconfig(file ?? "the default kubeconfig", String(err)));
  }
  const context = o.context ?? spec.cluster?.context;
  if (context !== undefined) {
    if (!kc.getContexts().some((c) => c.name === context))
      throw new UserError(
        ACCESS_MESSAGES.context(
          context,
          kc.getContexts().map((c) => c.name),
        ),
      );
    kc.setCurrentContext(context);
  }
  // Created by the first thing that writes there (the lock, a record), not here: status, history and doctor only read,
  // and a read leaves no state behind.
  const dir = join(stateDir(), "kubernetes", basename(stack).replace(/\.ya?ml$/, ""));
  const named = spec.kubernetes.prometheus;
  const prometheus =
    o.prometheus !== undefined
      ? prometheusAt({ url: o.prometheus })
      : named === undefined
        ? null
        : prometheusAt(named.url !== undefined ? { url: named.url } : { service: named.service ?? "", kc });
  return {
    kind: "kubernetes",
    stack,
    spec,
    kc,
    namespace: o.namespace ?? spec.kubernetes.namespace,
    imageRepo: o.imageRepo,
    prometheus,
    stateDir: dir,
    withLock: <T>(command: string, fn: () => Promise<T>) => withLock(join(dir, "lock"), command, fn),
  };
}
