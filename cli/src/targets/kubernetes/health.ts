/**
 * `imctl doctor` on a kubernetes target: the workloads, disruption budgets, autoscalers, pods, volume claims and TLS
 * Secrets of the platform's namespaces and the cluster's nodes, judged by health-checks.ts, and the stack's
 * Prometheus for the alert and backlog checks when the stack names one. It only reads.
 *
 * Every read goes through `ClusterReader`, a narrow interface: `clientNodeReader` adapts @kubernetes/client-node
 * 1.3.0, the unit tests give plain objects, the integration suite runs it against the embedded cluster.
 */
import type {
  KubeConfig,
  V1Deployment,
  V1Node,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodDisruptionBudget,
  V1Secret,
  V1StatefulSet,
  V2HorizontalPodAutoscaler,
} from "@kubernetes/client-node";
import type { CertificateFact, DataFilesystem, HealthReport, HealthTarget, PlatformCheck, Sample } from "../target.ts";
import type { KubernetesAccess } from "./access.ts";
import type { PrometheusClient } from "./prometheus.ts";
import {
  deploymentHealth,
  hpaCheck,
  nodeChecks,
  pdbCheck,
  platformNamespaces,
  podChecks,
  pvcChecks,
  secretCertificate,
  SHARED_NAMESPACES,
  statefulSetHealth,
} from "./health-checks.ts";

/** The reads of the doctor, one call each. */
export interface ClusterReader {
  /** The namespace's labels; null when it does not exist or this user may not read it. */
  namespaceLabels(name: string): Promise<Record<string, string> | null>;
  listDeployments(namespace: string): Promise<V1Deployment[]>;
  listStatefulSets(namespace: string): Promise<V1StatefulSet[]>;
  listPods(namespace: string): Promise<V1Pod[]>;
  listPdbs(namespace: string): Promise<V1PodDisruptionBudget[]>;
  listHpas(namespace: string): Promise<V2HorizontalPodAutoscaler[]>;
  listPvcs(namespace: string): Promise<V1PersistentVolumeClaim[]>;
  /** Secrets of type kubernetes.io/tls. */
  listTlsSecrets(namespace: string): Promise<V1Secret[]>;
  listNodes(): Promise<V1Node[]>;
}

export const HEALTH_MESSAGES = {
  noPrometheus: "no Prometheus named (kubernetes.prometheus in the stack)",
  unreadable: (what: string, why: string) => `cannot read ${what} from the API server: ${why}`,
  diskFree: (claims: number) =>
    "free space of volumes not checked: the Kubernetes API does not report it (the kubelet's volume stats do, " +
    `through Prometheus: kubelet_volume_stats_available_bytes); ${claims} claim(s) checked for binding only`,
  notDeployed: (namespace: string, exists: boolean) =>
    `${exists ? "no Deployment in it" : "not found (or not readable)"}: the platform is not deployed there ` +
    "(imctl up --stack <stack>, or the stack's kubernetes.namespace)",
  namespaces: (names: string[]) => `checked ${names.join(", ")} (the stack's namespace and the platform's own)`,
} as const;

/** Everything one doctor run looks at, read once. */
interface Snapshot {
  /** The stack's namespace, and whether it exists. */
  own: string;
  ownExists: boolean;
  namespaces: string[];
  deployments: V1Deployment[];
  statefulSets: V1StatefulSet[];
  pods: V1Pod[];
  pdbs: V1PodDisruptionBudget[];
  hpas: V2HorizontalPodAutoscaler[];
  pvcs: V1PersistentVolumeClaim[];
  secrets: V1Secret[];
  nodes: V1Node[];
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).split("\n")[0]?.slice(0, 240);

async function read(r: ClusterReader, own: string): Promise<Snapshot> {
  const labelled = await Promise.all(
    [own, ...SHARED_NAMESPACES].map(async (name) => ({
      name,
      labels: await r.namespaceLabels(name).catch((err: unknown) => {
        throw new Error(HEALTH_MESSAGES.unreadable(`namespace ${name}`, message(err) ?? ""));
      }),
    })),
  );
  const ownExists = labelled[0]?.labels !== null;
  const namespaces = platformNamespaces(own, labelled.slice(1));
  // Each list says what it was when it fails (a forbidden Secret list reads differently from a dead API server).
  const each = async <T>(what: string, list: (ns: string) => Promise<T[]>): Promise<T[]> => {
    const lists = await Promise.all(
      namespaces.map((ns) =>
        list(ns).catch((err: unknown) => {
          throw new Error(HEALTH_MESSAGES.unreadable(`${what} of ${ns}`, message(err) ?? ""));
        }),
      ),
    );
    return lists.flat();
  };
  const [deployments, statefulSets, pods, pdbs, hpas, pvcs, secrets, nodes] = await Promise.all([
    each("deployments", (ns) => r.listDeployments(ns)),
    each("statefulsets", (ns) => r.listStatefulSets(ns)),
    each("pods", (ns) => r.listPods(ns)),
    each("poddisruptionbudgets", (ns) => r.listPdbs(ns)),
    each("horizontalpodautoscalers", (ns) => r.listHpas(ns)),
    each("persistentvolumeclaims", (ns) => r.listPvcs(ns)),
    each("tls secrets", (ns) => r.listTlsSecrets(ns)),
    r.listNodes().catch((err: unknown) => {
      throw new Error(HEALTH_MESSAGES.unreadable("nodes", message(err) ?? ""));
    }),
  ]);
  return { own, ownExists, namespaces, deployments, statefulSets, pods, pdbs, hpas, pvcs, secrets, nodes };
}

/** The health report of one snapshot: pure, so a test can judge a snapshot it wrote by hand. */
export function assess(s: Snapshot, now: Date): HealthReport {
  const byId = <T extends { id?: string; name?: string }>(a: T, b: T) =>
    (a.id ?? a.name ?? "").localeCompare(b.id ?? b.name ?? "");
  const components = [...s.deployments.map(deploymentHealth), ...s.statefulSets.map(statefulSetHealth)].sort(byId);
  // An empty namespace lists nothing and would read as green: the platform must be there to be healthy.
  if (!s.deployments.some((d) => d.metadata?.namespace === s.own))
    components.unshift({
      id: `namespace ${s.own}`,
      group: "namespace",
      healthy: false,
      detail: HEALTH_MESSAGES.notDeployed(s.own, s.ownExists),
    });
  const checks: PlatformCheck[] = [
    { name: "namespaces", ok: true, note: "info", detail: HEALTH_MESSAGES.namespaces(s.namespaces) },
    ...s.pdbs.map(pdbCheck).sort(byId),
    ...s.hpas.map(hpaCheck).sort(byId),
    ...podChecks(s.pods, now).sort(byId),
    ...nodeChecks(s.nodes).sort(byId),
    ...pvcChecks(s.pvcs).sort(byId),
    { name: "disk-free", ok: true, note: "info", detail: HEALTH_MESSAGES.diskFree(s.pvcs.length) },
  ];
  return { healthy: components.every((c) => c.healthy) && checks.every((c) => c.ok), components, checks };
}

/** The doctor's view of a kubernetes target, over any ClusterReader. */
export class KubernetesHealth implements HealthTarget {
  readonly kind = "kubernetes" as const;
  private reading: Promise<Snapshot> | undefined;

  constructor(
    private readonly reader: ClusterReader,
    private readonly namespace: string,
    private readonly prometheus: PrometheusClient | null,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** One read shared by the calls of one doctor run (health and certificates ask at once); later calls read again. */
  private snapshot(): Promise<Snapshot> {
    this.reading ??= read(this.reader, this.namespace).finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  async health(): Promise<HealthReport> {
    try {
      return assess(await this.snapshot(), this.now());
    } catch (err) {
      // The doctor's answer to a cluster it cannot read is a failing row naming why, not a crash.
      return {
        healthy: false,
        components: [{ id: "kubernetes-api", group: "cluster", healthy: false, detail: message(err) ?? "" }],
        checks: [],
      };
    }
  }

  /** None: free bytes of a volume are the kubelet's to report, not the API server's (health() says so). */
  async dataFilesystems(): Promise<DataFilesystem[]> {
    return [];
  }

  async certificateFacts(): Promise<CertificateFact[]> {
    // An unreadable cluster is already one failing row of health().
    const s = await this.snapshot().catch(() => undefined);
    return (s?.secrets ?? []).map(secretCertificate).sort((a, b) => a.endpoint.localeCompare(b.endpoint));
  }

  metricsSource(): string | null {
    return this.prometheus?.where ?? null;
  }

  query(promql: string): Promise<Sample[]> {
    if (this.prometheus === null) return Promise.reject(new Error(HEALTH_MESSAGES.noPrometheus));
    return this.prometheus.query(promql);
  }
}

/** @kubernetes/client-node 1.3.0 behind ClusterReader. */
export async function clientNodeReader(kc: KubeConfig): Promise<ClusterReader> {
  const k8s = await import("@kubernetes/client-node");
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const policy = kc.makeApiClient(k8s.PolicyV1Api);
  const autoscaling = kc.makeApiClient(k8s.AutoscalingV2Api);
  const code = (err: unknown) =>
    typeof err === "object" && err !== null && "code" in err ? (err as { code: unknown }).code : undefined;
  return {
    async namespaceLabels(name) {
      try {
        return (await core.readNamespace({ name })).metadata?.labels ?? {};
      } catch (err) {
        if (code(err) === 404 || code(err) === 403) return null;
        throw err;
      }
    },
    listDeployments: async (namespace) => (await apps.listNamespacedDeployment({ namespace })).items,
    listStatefulSets: async (namespace) => (await apps.listNamespacedStatefulSet({ namespace })).items,
    listPods: async (namespace) => (await core.listNamespacedPod({ namespace })).items,
    listPdbs: async (namespace) => (await policy.listNamespacedPodDisruptionBudget({ namespace })).items,
    listHpas: async (namespace) => (await autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace })).items,
    listPvcs: async (namespace) => (await core.listNamespacedPersistentVolumeClaim({ namespace })).items,
    listTlsSecrets: async (namespace) =>
      (await core.listNamespacedSecret({ namespace, fieldSelector: "type=kubernetes.io/tls" })).items,
    listNodes: async () => (await core.listNode()).items,
  };
}

/** The doctor's view of an opened kubernetes stack. */
export async function kubernetesHealthTarget(access: KubernetesAccess): Promise<HealthTarget> {
  return new KubernetesHealth(await clientNodeReader(access.kc), access.namespace, access.prometheus);
}
