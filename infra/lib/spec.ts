/**
 * The platform spec: one typed description of an environment, read from `stacks/<name>.yaml`.
 * Every part of the toolkit (infra, imctl, the local target, load tests) reads it through `loadSpec`;
 * nothing else parses a stack file. Pure: no Pulumi import, no process state.
 */
import { basename } from "node:path";
import { z } from "zod";
import { excerpt } from "../../base/excerpt.ts";
import { InputFileError, parseInputYaml, readInputFile } from "./input-file.ts";
import { allowedKeysAt, describeIssue, valueAt } from "./spec-errors.ts";
import { checkKubernetesSections } from "./spec-cloud-checks.ts";
import { clusterSpec, type ClusterSpec } from "./spec-cluster.ts";
import { groupsSpec } from "./spec-groups.ts";
import {
  cloudsSpec,
  kubernetesSpec,
  multicloudSpec,
  tagsSpec,
  type CloudSpec,
  type CloudsSpec,
  type KubernetesSpec,
} from "./spec-cloud.ts";

const MAX_PORT = 65535;
const port = z.number().int().min(1024).max(MAX_PORT);
const count = (min: number, max: number) => z.number().int().min(min).max(max);

const serviceSpec = z
  .object({
    /** Instances of this service. Seed: gateway 3, message 6, user-center 4. */
    replicas: count(1, 1000),
  })
  .strict();

const gatewayServiceSpec = serviceSpec
  .extend({
    /**
     * Egress bandwidth cap of each gateway instance in bytes per second (EGRESS_BYTES_PER_SECOND). Unset: the
     * gateway's own default (100 MiB/s). `imctl bandwidth upgrade` changes it at run time and records the change.
     */
    egressBytesPerSecond: count(1024, 100 * 1024 ** 3).optional(),
  })
  .strict();

const topicSpec = z
  .object({
    name: z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, "a Kafka topic name: letters, digits, '.', '_' or '-'"),
    partitions: count(1, 10000),
  })
  .strict();

const dataSpec = z
  .object({
    redis: z
      .object({
        /** Primaries of the Redis Cluster (each owns a share of the 16,384 slots). */
        primaries: count(3, 100),
        /** Replicas behind each primary; at least one, or a primary loss loses its slots. */
        replicasPerPrimary: count(1, 5),
      })
      .strict(),
    kafka: z
      .object({
        brokers: count(1, 100),
        replicationFactor: count(1, 100),
        minInsyncReplicas: count(1, 100),
        topics: z.array(topicSpec).min(1).max(1000),
      })
      .strict(),
    database: z
      .object({
        /** Schema (database) name that the services use. */
        name: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, "lower-case letters, digits and '_', starting with a letter"),
      })
      .strict(),
  })
  .strict();

const localSpec = z
  .object({
    /** Address every local component binds to. Loopback only: the local target never listens elsewhere. */
    bindAddress: z
      .string()
      .regex(
        /^127\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/,
        "an address in 127.0.0.0/8, each part 0 to 255 (the local target only uses loopback)",
      ),
    ports: z
      .object({
        /** nginx: the gateway load balancer that clients connect to. */
        gatewayLb: port,
        /** nginx: stub_status, read by the nginx exporter. */
        nginxStatus: port,
        /** First Redis node; node i listens on redis + i - 1. */
        redis: port,
        /** First Redis cluster bus (cluster-port); node i on redisBus + i - 1. */
        redisBus: port,
        /** First Kafka broker listener; broker i on kafka + i - 1. */
        kafka: port,
        /** First KRaft controller listener; controller i on kafkaController + i - 1. */
        kafkaController: port,
        /** First JMX exporter agent; broker i on kafkaJmx + i - 1. */
        kafkaJmx: port,
        database: port,
        prometheus: port,
        nodeExporter: port,
        redisExporter: port,
        mysqldExporter: port,
        nginxExporter: port,
        /** First gateway instance; instance i on gateway + i - 1. */
        gateway: port,
        /** First message-service instance. */
        message: port,
        /** First user-center instance. */
        userCenter: port,
      })
      .strict(),
    redis: z
      .object({
        /** cluster-node-timeout in ms: failover takes about this plus one second. */
        nodeTimeoutMs: z.number().int().min(500).max(60000),
      })
      .strict(),
    kafka: z
      .object({
        /** JVM heap per broker in MiB (-Xms and -Xmx). */
        heapMb: z.number().int().min(128).max(8192),
        /**
         * How often the controller hands partitions back to their preferred leaders (leader.imbalance.check.interval
         * .seconds); Kafka's 300 when unset. Tests set a few seconds to meet a returning broker's election at once.
         */
        leaderRebalanceCheckSeconds: z.number().int().min(1).max(3600).optional(),
      })
      .strict(),
    nginx: z
      .object({
        /** Worker processes; each holds up to workerConnections sockets (client + upstream). */
        workerProcesses: count(1, 64),
        /** Must stay under the per-process descriptor limit (20,000 here) with room for logs and upstreams. */
        workerConnections: count(64, 19000),
        /** How long an old worker keeps its WebSocket connections open after a reload, in seconds. */
        workerShutdownTimeoutSeconds: count(1, 86400),
      })
      .strict(),
    prometheus: z
      .object({
        scrapeIntervalSeconds: count(1, 300),
        retentionDays: count(1, 365),
      })
      .strict(),
  })
  .strict();

const platformSpecShape = z
  .object({
    apiVersion: z.literal("imctl.im-platform/v1"),
    kind: z.literal("Platform"),
    /** Environment name; matches the file name under stacks/. */
    name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, "lower-case letters, digits and '-', starting with a letter"),
    target: z.enum(["local", "kubernetes"]),
    services: z
      .object({
        gateway: gatewayServiceSpec,
        message: serviceSpec,
        userCenter: serviceSpec,
      })
      .strict(),
    data: dataSpec,
    messaging: z
      .object({
        /** Groups with more members than this switch from write diffusion (an inbox row per member) to read diffusion. */
        groupWriteDiffusionMax: count(1, 100000),
        /** Sub-groups of large groups (docs/groups.md); every field has a default. See infra/lib/spec-groups.ts. */
        groups: groupsSpec.default(() => groupsSpec.parse({})),
      })
      .strict()
      .default(() => ({ groupWriteDiffusionMax: 500, groups: groupsSpec.parse({}) })),
    local: localSpec.optional(),
    /** target kubernetes: the clouds to provision (AWS, Alibaba Cloud or both). See infra/lib/spec-cloud.ts. */
    clouds: cloudsSpec.optional(),
    /** target kubernetes with both clouds: how the two VPCs connect. */
    multicloud: multicloudSpec.optional(),
    /** target kubernetes: how the IM services run on the clusters (autoscaling, canary, images, ingress). */
    kubernetes: kubernetesSpec.optional(),
    /**
     * target kubernetes: tags on every taggable resource; project, environment, owner and cost-center are required
     * with clouds. With cluster (no cloud resources) they are optional and label the namespaces.
     */
    tags: tagsSpec.optional(),
    /** target kubernetes, instead of clouds: an existing cluster by kubeconfig. See infra/lib/spec-cluster.ts. */
    cluster: clusterSpec.optional(),
  })
  .strict();

export const platformSpecSchema = platformSpecShape
  // Cross-field checks run only on a document whose every field is in range: they walk the spec (one port per
  // replica), so a failed bound (replicas: 100000000) must stop validation before they allocate anything.
  .superRefine(crossFieldChecks, { when: (payload) => payload.issues.length === 0 });

type SpecShape = z.infer<typeof platformSpecShape>;

function crossFieldChecks(spec: SpecShape, ctx: z.RefinementCtx): void {
  const kafka = spec.data.kafka;
  if (kafka.replicationFactor > kafka.brokers) {
    ctx.addIssue({
      code: "custom",
      path: ["data", "kafka", "replicationFactor"],
      message: `at most data.kafka.brokers (${kafka.brokers})`,
    });
  }
  if (kafka.minInsyncReplicas > kafka.replicationFactor) {
    ctx.addIssue({
      code: "custom",
      path: ["data", "kafka", "minInsyncReplicas"],
      message: `at most data.kafka.replicationFactor (${kafka.replicationFactor})`,
    });
  }
  if (spec.target === "local" && spec.local === undefined) {
    ctx.addIssue({ code: "custom", path: ["local"], message: "required when target is local" });
  }
  for (const issue of checkKubernetesSections(spec))
    ctx.addIssue({ code: "custom", path: issue.path, message: issue.message });
  if (spec.local !== undefined) {
    const seen = new Map<number, string>();
    for (const [owner, p] of localPortAssignments({ ...spec, local: spec.local })) {
      if (p > MAX_PORT) {
        ctx.addIssue({
          code: "custom",
          path: ["local", "ports", owner.split(" ")[0] ?? owner],
          message: `derives port ${p} for ${owner}, beyond ${MAX_PORT}: lower the base port or the count`,
        });
        return;
      }
      const other = seen.get(p);
      if (other !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["local", "ports", owner.split(" ")[0] ?? owner],
          message: `port ${p} (${owner}) collides with ${other}: every derived port must be unique`,
        });
        return;
      }
      seen.set(p, owner);
    }
  }
}

export type PlatformSpec = z.infer<typeof platformSpecSchema>;
export type LocalSpec = z.infer<typeof localSpec>;
export type LocalPlatformSpec = PlatformSpec & { local: LocalSpec };
/**
 * A spec the Pulumi program can deploy: the kubernetes sections are present (the schema checked them). A stack on an
 * existing cluster has `cluster` and no clouds: `clouds` is then empty (`{}`, nothing to provision, nothing to
 * price) and `tags` may be empty; `isExistingCluster` narrows to that shape.
 */
export type KubernetesPlatformSpec = PlatformSpec & {
  target: "kubernetes";
  clouds: CloudsSpec;
  kubernetes: KubernetesSpec;
  tags: Record<string, string>;
};
/** A kubernetes spec for an existing cluster (`cluster` instead of `clouds`). */
export type ExistingClusterPlatformSpec = KubernetesPlatformSpec & { cluster: ClusterSpec };
export type { CloudSpec, CloudsSpec, ClusterSpec, KubernetesSpec };

/** Whether the stack deploys onto an existing cluster (its `cluster` section) rather than into clouds. */
export function isExistingCluster(spec: KubernetesPlatformSpec): spec is ExistingClusterPlatformSpec {
  return spec.cluster !== undefined;
}

/**
 * Every concrete port the local target would bind, with the spec field it derives from.
 * Redis cluster buses and per-instance ports are included, so overlaps are caught here.
 */
export function localPortAssignments(spec: LocalPlatformSpec): Array<[string, number]> {
  const p = spec.local.ports;
  const out: Array<[string, number]> = [
    ["gatewayLb", p.gatewayLb],
    ["nginxStatus", p.nginxStatus],
    ["database", p.database],
    ["prometheus", p.prometheus],
    ["nodeExporter", p.nodeExporter],
    ["redisExporter", p.redisExporter],
    ["mysqldExporter", p.mysqldExporter],
    ["nginxExporter", p.nginxExporter],
  ];
  const redisNodes = redisNodeCount(spec);
  for (let i = 0; i < redisNodes; i++) {
    out.push([`redis (node ${i + 1})`, p.redis + i]);
    out.push([`redisBus (node ${i + 1})`, p.redisBus + i]);
  }
  const services: Array<[keyof typeof spec.services, "gateway" | "message" | "userCenter"]> = [
    ["gateway", "gateway"],
    ["message", "message"],
    ["userCenter", "userCenter"],
  ];
  for (const [svc, field] of services) {
    for (let i = 0; i < spec.services[svc].replicas; i++) out.push([`${field} (instance ${i + 1})`, p[field] + i]);
  }
  for (let i = 0; i < spec.data.kafka.brokers; i++) {
    out.push([`kafka (broker ${i + 1})`, p.kafka + i]);
    out.push([`kafkaController (broker ${i + 1})`, p.kafkaController + i]);
    out.push([`kafkaJmx (broker ${i + 1})`, p.kafkaJmx + i]);
  }
  return out;
}

export function redisNodeCount(spec: PlatformSpec): number {
  return spec.data.redis.primaries * (1 + spec.data.redis.replicasPerPrimary);
}

/** A stack file that does not match the schema: `message` is one line naming the field, the value and what is allowed. */
export class SpecError extends Error {
  override readonly name = "SpecError";
}

/**
 * Parse and validate a spec from already-parsed data. `source` names the file in messages. The message names the
 * first bad field and quotes at most an excerpt of its value: never the document (a file that is not a stack at all,
 * a .env or a key, is described by its type only).
 */
export function parseSpec(raw: unknown, source: string): PlatformSpec {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    const got =
      raw === null || raw === undefined ? "an empty document" : Array.isArray(raw) ? "a list" : `a ${typeof raw}`;
    throw new SpecError(
      `${source}: (root): got ${got}; expected a stack: a YAML mapping with apiVersion, kind, name, ...`,
    );
  }
  const result = platformSpecSchema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw new SpecError(`${source}: invalid stack file`);
  if (issue.code === "unrecognized_keys") {
    // Name the first unknown key itself, with the keys allowed beside it.
    const key = issue.keys[0] ?? "";
    const path = [...issue.path.map(String), key].join(".");
    const allowed = allowedKeysAt(platformSpecShape, raw, issue.path);
    const more = issue.keys.length > 1 ? ` (and ${issue.keys.length - 1} more unknown)` : "";
    throw new SpecError(
      `${source}: ${path}: unknown field${more}; allowed here: ${allowed.length > 0 ? allowed.join(", ") : "none"}`,
    );
  }
  const path = issue.path.map(String).join(".");
  const value = valueAt(raw, issue.path);
  throw new SpecError(`${source}: ${path || "(root)"}: got ${excerpt(value)}; ${describeIssue(issue)}`);
}

/** Read, parse and validate `stacks/<name>.yaml` (or any path). Refuses a file above INPUT_FILE_LIMIT_BYTES. */
export function loadSpec(file: string): PlatformSpec {
  let raw: unknown;
  try {
    raw = parseInputYaml(readInputFile(file, "stack file"), file, "stack file");
  } catch (err) {
    if (err instanceof InputFileError) throw new SpecError(err.message);
    throw err;
  }
  const spec = parseSpec(raw, file);
  const expected = basename(file).replace(/\.ya?ml$/, "");
  if (spec.name !== expected) {
    throw new SpecError(`${file}: name: got ${excerpt(spec.name)}; must match the file name (${excerpt(expected)})`);
  }
  return spec;
}

/** Narrow a spec to the local target, or explain why it cannot run locally. */
export function requireLocal(spec: PlatformSpec, source: string): LocalPlatformSpec {
  if (spec.local === undefined) {
    throw new SpecError(`${source}: local: missing; the local target needs a "local" section (see stacks/local.yaml)`);
  }
  return { ...spec, local: spec.local };
}

/** Narrow a spec to the kubernetes target, or explain why Pulumi cannot deploy it. */
export function requireKubernetes(spec: PlatformSpec, source: string): KubernetesPlatformSpec {
  if (spec.target !== "kubernetes") {
    throw new SpecError(
      `${source}: target: got ${JSON.stringify(spec.target)}; Pulumi deploys only target "kubernetes" stacks (run the local target with "imctl local up")`,
    );
  }
  const { clouds, kubernetes, tags, cluster } = spec;
  // The schema's refinement requires these for target kubernetes; this only narrows the type.
  if (cluster !== undefined && kubernetes !== undefined)
    return { ...spec, target: "kubernetes", clouds: {}, kubernetes, tags: tags ?? {}, cluster };
  if (clouds === undefined || kubernetes === undefined || tags === undefined)
    throw new SpecError(`${source}: clouds (or cluster), kubernetes and tags are required when target is kubernetes`);
  return { ...spec, target: "kubernetes", clouds, kubernetes, tags };
}
