/**
 * The `cluster` section of a `target: kubernetes` stack that deploys onto a cluster someone already runs (on-prem,
 * a laptop cluster, the embedded cluster of `imctl cluster up`), instead of provisioning one in `clouds`: how to
 * reach its API (kubeconfig and context), which zones its nodes are in, which operators it already has
 * (`preinstalled`: nothing here installs operator charts) and where the data tier answers (`data.mode: external`).
 * Its shape and its cross-field rules; `infra/lib/spec.ts` assembles it. Pure: no Pulumi import, no process state
 * (`resolveKubeconfig` takes the repository root and home directory as arguments).
 */
import { isAbsolute, join } from "node:path";
import { z } from "zod";
import { REQUIRED_ZONES } from "./spec-cloud.ts";

/**
 * What a cluster may declare as installed before `up`: the program creates the objects of these APIs only when
 * they are declared (a missing CRD would fail the first `up` half-way).
 */
export const PREINSTALLED = [
  "gateway-api",
  "prometheus-operator",
  "strimzi",
  "tidb-operator",
  "cert-manager",
  "k6-operator",
] as const;
export type Preinstalled = (typeof PREINSTALLED)[number];
/** Default GatewayClass of the platform's Gateway: the class the cluster's Gateway API controller serves. */
export const DEFAULT_GATEWAY_CLASS = "im-gateway";
/**
 * The image registry that means "the images the embedded cluster's real node holds": built from the checkout by
 * `imctl cluster up --nodes real` (or `imctl cluster images`), tagged by content, never pulled.
 */
export const NODE_LOCAL_REGISTRY = "imctl.local";

/** The label whose values `cluster.zones` lists. */
export const ZONE_LABEL = "topology.kubernetes.io/zone";
/** The label key prefix a stack's tags become on the namespaces of an existing cluster. */
export const TAG_LABEL_PREFIX = "tags.im-platform.io/";

const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:\d{1,5}$/, "host:port, e.g. 10.0.0.5:6379 or redis-0.example:6379");
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * The most entries each list (and map) of the cluster section holds. A stack file is at most 1 MiB, but a list that
 * long would be copied into every pod spec and Job the program renders: each bound is what the thing it describes can
 * sensibly be. Redis Cluster is designed for at most 1,000 nodes; a Kafka bootstrap list needs a few brokers (the
 * client discovers the rest); no cloud region has more than a handful of zones (and exactly 3 are checked after the
 * schema: the bound keeps that check's duplicate search small); a pod that needs more than 50 tolerations or 32 node
 * labels to be placed is a mistake, not a design.
 */
export const CLUSTER_LIMITS = {
  redisNodes: 1000,
  kafkaBrokers: 100,
  zones: 16,
  tolerations: 50,
  nodeSelector: 32,
} as const;

/** Node labels to match: at most CLUSTER_LIMITS.nodeSelector of them. */
const nodeSelector = () =>
  z
    .record(z.string().min(1), z.string().regex(labelValue, "a label value"))
    .refine((r) => Object.keys(r).length <= CLUSTER_LIMITS.nodeSelector, {
      message: `must have at most ${CLUSTER_LIMITS.nodeSelector} labels`,
    });

const externalData = z
  .object({
    /**
     * `external`: Redis Cluster, Kafka and the MySQL-protocol database run outside this cluster, reached at the
     * addresses below (as a cloud stack reaches managed services).
     */
    mode: z.literal("external"),
    /** Redis Cluster seed nodes (host:port); the client discovers the rest. */
    redisNodes: z.array(hostPort).min(1).max(CLUSTER_LIMITS.redisNodes),
    /** Kafka bootstrap brokers (host:port). */
    kafkaBrokers: z.array(hostPort).min(1).max(CLUSTER_LIMITS.kafkaBrokers),
    database: z
      .object({
        /** A MySQL-protocol server (TiDB, MySQL, MariaDB). */
        host: z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, "a host name or IPv4 address"),
        port: z.number().int().min(1).max(65535),
        /**
         * The account the migrations Job creates the schema and the services' user with. Its password comes from the
         * Pulumi config secret `databaseAdminPassword` (or the caller's option); default user root.
         */
        adminUser: z.string().min(1).max(64).default("root"),
      })
      .strict(),
  })
  .strict();

const toleration = z
  .object({
    key: z.string().min(1).optional(),
    operator: z.enum(["Equal", "Exists"]).default("Equal"),
    value: z.string().optional(),
    effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
  })
  .strict();

const storageGb = z.number().int().min(1).max(16384);
const dnsSubdomain = z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, "a DNS subdomain");

const inClusterData = z
  .object({
    /**
     * `in-cluster`: the data tier runs in this cluster, in the namespace im-data: a Redis Cluster StatefulSet of the
     * program's own, Kafka through the preinstalled Strimzi operator (KafkaNodePool, Kafka, KafkaTopic) and TiDB
     * through the preinstalled TiDB Operator (TidbCluster, TidbInitializer). Both operators must be declared in
     * cluster.preinstalled; their sizes are data.redis, data.kafka and tidb below.
     */
    mode: z.literal("in-cluster"),
    /** The StorageClass of every data volume. Default: the cluster's default StorageClass. */
    storageClass: dnsSubdomain.optional(),
    /** Node labels the data pods must match (e.g. im/tier: data). Default: cluster.nodeSelector. */
    nodeSelector: nodeSelector().optional(),
    /** Node taints the data pods tolerate. Default: cluster.tolerations. */
    tolerations: z.array(toleration).max(CLUSTER_LIMITS.tolerations).optional(),
    /** Disk per Redis node, GiB. */
    redisStorageGb: storageGb.default(20),
    /** Disk per Kafka broker, GiB. */
    kafkaStorageGb: storageGb.default(100),
    tidb: z
      .object({
        /** Placement Driver members (an odd number keeps a quorum). */
        pd: z.number().int().min(1).max(9).default(3),
        /** TiKV stores; 3 keep a Raft copy per zone. */
        tikv: z.number().int().min(1).max(99).default(3),
        /** Stateless SQL servers. */
        tidb: z.number().int().min(1).max(99).default(2),
        /** Disk per TiKV store, GiB. */
        storageGb: storageGb.default(100),
      })
      .strict()
      .default({ pd: 3, tikv: 3, tidb: 2, storageGb: 100 }),
    /**
     * Daily BR backups of TiDB into S3-compatible storage (MinIO, Ceph RGW, a cloud bucket). Default none: the
     * program then declares no BackupSchedule, and `imctl doctor` has no backup to check.
     */
    backup: z
      .object({
        bucket: z
          .string()
          .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket name (3-63 of a-z, 0-9, '.', '-')"),
        /** The storage's S3 endpoint (https://...). */
        endpoint: z.string().regex(/^https:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, "an https:// URL without query or fragment"),
        region: z.string().min(1).max(64).default("us-east-1"),
        /**
         * A Secret in im-data with the keys access_key and secret_key (TiDB Operator's S3 credentials), created by
         * whoever owns the storage: the program never sees the keys.
         */
        credentialsSecret: dnsSubdomain,
        retentionDays: z.number().int().min(1).max(3650).default(7),
      })
      .strict()
      .optional(),
  })
  .strict();

export const clusterSpec = z
  .object({
    /** The kubeconfig file: relative paths resolve against the repository root, `~` is the home directory. */
    kubeconfig: z.string().min(1),
    /** The kubeconfig context to use (never the file's current-context: a deploy names its cluster). */
    context: z.string().min(1),
    /** The values of topology.kubernetes.io/zone on the cluster's nodes; the services spread over them. */
    zones: z.array(z.string().regex(labelValue, "a label value").min(1)).max(CLUSTER_LIMITS.zones),
    /** Node labels the platform's pods must match (e.g. im/tier: app). Default none: any schedulable node. */
    nodeSelector: nodeSelector().default({}),
    /** Taints of those nodes the platform's pods tolerate (e.g. kwok's kwok.x-k8s.io/node). Default none. */
    tolerations: z.array(toleration).max(CLUSTER_LIMITS.tolerations).default([]),
    /** Operators and CRDs the cluster already has (see PREINSTALLED). gateway-api is required. Default none. */
    preinstalled: z.array(z.enum(PREINSTALLED)).max(PREINSTALLED.length).default([]),
    /** The GatewayClass the platform's Gateway names. Default im-gateway. */
    gatewayClassName: dnsSubdomain.default(DEFAULT_GATEWAY_CLASS),
    /** Where the data tier is: `external` endpoints, or `in-cluster` through preinstalled operators. */
    data: z.discriminatedUnion("mode", [externalData, inClusterData]),
  })
  .strict();

export type ClusterSpec = z.infer<typeof clusterSpec>;
export type Toleration = z.infer<typeof toleration>;
export type ExternalData = z.infer<typeof externalData>;
export type InClusterData = z.infer<typeof inClusterData>;
/** The operators an in-cluster data tier runs through. */
export const DATA_OPERATORS = ["strimzi", "tidb-operator"] as const satisfies readonly Preinstalled[];

/** What `checkClusterSection` reads of the whole spec. */
export interface ClusterSections {
  cluster: ClusterSpec;
  clouds?: unknown;
  multicloud?: unknown;
  kubernetes?: { image: { build?: unknown } } | undefined;
  tags?: Record<string, string> | undefined;
}

interface SectionIssue {
  path: Array<string | number>;
  message: string;
}

/** The rules of a stack with a `cluster` section (target kubernetes), in the order a reader meets the fields. */
export function checkClusterSection(spec: ClusterSections): SectionIssue[] {
  const issues: SectionIssue[] = [];
  const c = spec.cluster;
  if (spec.clouds !== undefined)
    issues.push({
      path: ["clouds"],
      message:
        "a stack has either clouds (clusters the program provisions) or cluster (an existing cluster by kubeconfig), not both",
    });
  if (spec.multicloud !== undefined)
    issues.push({ path: ["multicloud"], message: "only a stack with clouds.aws and clouds.alicloud has this section" });
  if (c.zones.length !== REQUIRED_ZONES)
    issues.push({
      path: ["cluster", "zones"],
      message: `${REQUIRED_ZONES} zones (values of ${ZONE_LABEL}) are needed so a zone loss keeps the services' quorum`,
    });
  c.zones.forEach((zone, i) => {
    if (c.zones.indexOf(zone) !== i)
      issues.push({ path: ["cluster", "zones", i], message: "listed twice: the zones must differ" });
  });
  if (!c.preinstalled.includes("gateway-api"))
    issues.push({
      path: ["cluster", "preinstalled"],
      message:
        "must include gateway-api: the platform's traffic layer is a Gateway and HTTPRoutes (ingress-nginx is " +
        "retired); install the Gateway API CRDs and a controller, then declare it",
    });
  if (c.data.mode === "in-cluster") {
    const missing = DATA_OPERATORS.filter((o) => !c.preinstalled.includes(o));
    if (missing.length > 0)
      issues.push({
        path: ["cluster", "preinstalled"],
        message:
          `data.mode in-cluster runs Kafka through Strimzi and TiDB through TiDB Operator: ${missing.join(" and ")} ` +
          "missing (install the operator, then declare it), or use data.mode external",
      });
  }
  if (spec.kubernetes !== undefined && spec.kubernetes.image.build !== undefined)
    issues.push({
      path: ["kubernetes", "image", "build"],
      message:
        "an existing cluster takes prebuilt images: set kubernetes.image.registry (<registry>/<service>:<tag>) instead of build",
    });
  for (const [key, value] of Object.entries(spec.tags ?? {})) {
    if (!/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/.test(key))
      issues.push({
        path: ["tags", key],
        message:
          `on an existing cluster tags become namespace labels (${TAG_LABEL_PREFIX}<key>): ` +
          "the key must be a label name (letters, digits, '-', '_', '.', at most 63)",
      });
    else if (value.length > 63 || !labelValue.test(value))
      issues.push({
        path: ["tags", key],
        message:
          "on an existing cluster tags become namespace labels: the value must be a label value (at most 63 letters, digits, '-', '_', '.')",
      });
  }
  return issues;
}

/** The kubeconfig's absolute path: `~` and `~/...` are the home directory, a relative path is the repository's. */
export function resolveKubeconfig(path: string, repoRoot: string, home: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return isAbsolute(path) ? path : join(repoRoot, path);
}
