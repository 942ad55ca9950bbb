/**
 * The parts of the platform spec that only a `target: kubernetes` stack has: `clouds` (AWS and/or Alibaba Cloud),
 * `multicloud` (the interconnect when both are present), `kubernetes` (how the services run) and `tags`.
 * This file is their shape (the zod schemas, the seeds); the cross-field rules are in `infra/lib/spec-cloud-checks.ts`.
 * `infra/lib/spec.ts` assembles them into the one schema and calls `checkKubernetesSections` from its refinement,
 * so every rule runs before the Pulumi program declares a single resource. Pure: no Pulumi import.
 */
import { z } from "zod";
import { cidrProblem } from "./cidr.ts";

/** Seed: the VPC's app segment. */
export const DEFAULT_APP_CIDR = "10.0.0.0/16";
/** Seed: the data segment (its first /16 is attached to the VPC, see infra/lib/cidr.ts). */
export const DEFAULT_DATA_CIDR = "172.16.0.0/12";
/**
 * Kubernetes Service addresses. Set explicitly because EKS would otherwise pick 172.20.0.0/16 when the VPC is in
 * 10/8, and that lies inside the seed's data segment.
 */
export const DEFAULT_SERVICE_CIDR = "10.100.0.0/16";
/** Seed: scale out at CPU above 80 %. */
export const DEFAULT_CPU_UTILIZATION_PERCENT = 80;
/** A zone loss must leave a quorum of every 3-replica store (TiKV Raft, Kafka ISR, Redis primaries): three zones. */
export const REQUIRED_ZONES = 3;
/** Platforms an image can be built for (the node groups run x86-64; Graviton / Yitian nodes would be arm64). */
export const IMAGE_PLATFORMS = ["linux/amd64", "linux/arm64"] as const;
/** Blocks that open a Kubernetes API endpoint to the whole internet. */
export const WORLD_CIDRS: readonly string[] = ["0.0.0.0/0", "::/0"];
/** Tags every taggable resource carries; the policy pack enforces the same list. */
export const REQUIRED_TAGS = ["project", "environment", "owner", "cost-center"] as const;

const cidr = z.string().superRefine((s, ctx) => {
  const problem = cidrProblem(s);
  if (problem !== null) ctx.addIssue({ code: "custom", message: `expected ${problem}` });
});
const count = (min: number, max: number) => z.number().int().min(min).max(max);
const name63 = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/,
    "3-63 lower-case letters, digits and '-', not starting or ending with '-'",
  );

const nodeGroup = z
  .object({
    /** Instance type (AWS) or ECS instance type (Alibaba Cloud); priced in infra/lib/pricing.ts. */
    instanceType: z.string().min(1),
    min: count(0, 1000),
    desired: count(0, 1000),
    max: count(1, 1000),
  })
  .strict();

const cloudSpec = z
  .object({
    /** One of infra/lib/regions.ts. */
    region: z.string(),
    /** Exactly three zones of the region, each holding one replica of every stateful component (checked after). */
    zones: z.array(z.string().max(64)).max(16),
    network: z
      .object({
        /** The VPC's primary block, for nodes, pods and load balancers. Default 10.0.0.0/16 (seed). */
        appCidr: cidr.default(DEFAULT_APP_CIDR),
        /** The data tier's segment; only the app segment may reach it. Default 172.16.0.0/12 (seed). */
        dataCidr: cidr.default(DEFAULT_DATA_CIDR),
        /** One NAT gateway per zone (a zone loss keeps egress) or a single one (cheaper). Default perZone. */
        natGateways: z.enum(["perZone", "single"]).default("perZone"),
      })
      .strict()
      .default({ appCidr: DEFAULT_APP_CIDR, dataCidr: DEFAULT_DATA_CIDR, natGateways: "perZone" }),
    cluster: z
      .object({
        /** Kubernetes minor version of EKS / ACK, e.g. "1.31". */
        version: z.string().regex(/^1\.\d{2}$/, 'a Kubernetes minor version such as "1.31"'),
        /** Cluster Service addresses; must not overlap any VPC block. Default 10.100.0.0/16. */
        serviceCidr: cidr.default(DEFAULT_SERVICE_CIDR),
        /**
         * Who may reach the Kubernetes API from the internet (the operators' egress blocks). Default none: the API
         * endpoint is private to the VPC (and the peer VPC over the VPN), so Pulumi and imctl run from inside.
         * 0.0.0.0/0 is refused: an API server open to the world is one credential leak away from the platform.
         */
        apiAccessCidrs: z.array(cidr).max(40).default([]),
        nodeGroups: z.object({ app: nodeGroup, data: nodeGroup }).strict(),
      })
      .strict(),
    data: z
      .object({
        redis: z
          .object({
            /** `managed`: ElastiCache / Tair in cluster mode; `in-cluster`: Redis Cluster pods on the data nodes. */
            mode: z.enum(["managed", "in-cluster"]),
            /** Node type of the managed service (e.g. cache.r6g.large, redis.shard.small.ce). */
            nodeType: z.string().min(1),
          })
          .strict(),
        kafka: z
          .object({
            /** `managed`: MSK / ApsaraMQ for Kafka; `strimzi`: brokers run by the Strimzi operator on the data nodes. */
            mode: z.enum(["managed", "strimzi"]),
            /** Broker instance type of the managed service (e.g. kafka.m5.large); ignored by strimzi. */
            brokerType: z.string().min(1),
            /** Disk per broker in GiB. */
            storageGb: count(10, 16384),
          })
          .strict(),
        tidb: z
          .object({
            /** Placement Driver members (an odd number keeps a quorum). */
            pd: count(1, 9),
            /** TiKV stores; 3 keep three Raft copies, one per zone (RPO 0). */
            tikv: count(1, 99),
            /** Stateless SQL servers. */
            tidb: count(1, 99),
            /** Disk per TiKV store in GiB. */
            storageGb: count(10, 16384),
          })
          .strict(),
        backup: z
          .object({
            /** S3 / OSS bucket for BR backups; globally unique. */
            bucket: name63,
            retentionDays: count(1, 3650),
          })
          .strict(),
      })
      .strict(),
  })
  .strict();

export const cloudsSpec = z
  .object({
    aws: cloudSpec.optional(),
    alicloud: cloudSpec.optional(),
  })
  .strict();

export const multicloudSpec = z
  .object({
    interconnect: z
      .object({
        /** An IPSec VPN between the AWS VPC and the Alibaba Cloud VPC, one tunnel per AWS endpoint. */
        kind: z.literal("ipsec-vpn"),
        /** Default ikev2. */
        ikeVersion: z.enum(["ikev1", "ikev2"]).default("ikev2"),
        /** Alibaba Cloud VPN gateway bandwidth in Mbit/s (the sizes it sells). Default 100. */
        bandwidthMbps: z
          .union([z.literal(10), z.literal(100), z.literal(200), z.literal(500), z.literal(1000)])
          .default(100),
      })
      .strict(),
  })
  .strict();

const workload = z
  .object({
    /** Upper bound of the HorizontalPodAutoscaler; the lower bound is services.<name>.replicas. */
    maxReplicas: count(1, 1000),
    /** CPU request per pod in millicores (the HPA's 80 % is of this). */
    cpuMillis: count(50, 64000),
    /** Memory request (and limit) per pod in MiB. */
    memoryMiB: count(64, 262144),
  })
  .strict();

export const kubernetesSpec = z
  .object({
    /** Namespace of the IM services. Default "im". */
    namespace: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "a DNS label")
      .default("im"),
    image: z
      .object({
        /** The version the services run: the images' tag (and SERVICE_VERSION). */
        tag: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/, "an image tag"),
        /** Take prebuilt images by tag from this registry and path prefix: <registry>/<service>:<tag>. Either this or build. */
        registry: z
          .string()
          .regex(/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)*$/, "a registry host and path, e.g. registry.example.com/im")
          .optional(),
        /**
         * Build services/<service>/Dockerfile and push it to the cloud's own registry (ECR; Alibaba Cloud Container
         * Registry Enterprise Edition). Either this or registry.
         */
        build: z
          .object({
            /** Default linux/amd64 (the node groups' instance types). */
            platforms: z.array(z.enum(IMAGE_PLATFORMS)).min(1).max(IMAGE_PLATFORMS.length).default(["linux/amd64"]),
            /**
             * The Alibaba Cloud account (or RAM user) name that `docker login` pairs with the Container Registry
             * instance's password. Required when building for clouds.alicloud; not a secret.
             */
            alicloudRegistryUser: z.string().min(1).max(128).optional(),
          })
          .strict()
          .optional(),
      })
      .strict(),
    ingress: z
      .object({
        /** Public host name of the platform (wss://<host>/ws and https://<host>/v1/ on a cloud stack). */
        host: z.string().regex(/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/, "a DNS name such as im.example.com"),
        /**
         * TLS at the public edge (required on a cloud stack): cert-manager obtains the host's certificate from this
         * ACME CA (HTTP-01 through the Gateway's HTTP listener), the Gateway's HTTPS listener (Traefik) terminates TLS
         * and its HTTP listener redirects to HTTPS.
         */
        tls: z
          .object({
            /** Where the ACME CA writes about the account and expiring certificates. */
            acmeEmail: z.email(),
            /** `letsencrypt` (default) or `letsencrypt-staging` (untrusted certificates, generous rate limits). */
            acmeServer: z.enum(["letsencrypt", "letsencrypt-staging"]).default("letsencrypt"),
          })
          .strict()
          .optional(),
      })
      .strict(),
    autoscaling: z
      .object({
        /** Scale out when average CPU passes this share of the request. Seed: 80. */
        cpuUtilizationPercent: count(10, 100).default(DEFAULT_CPU_UTILIZATION_PERCENT),
      })
      .strict()
      .default({ cpuUtilizationPercent: DEFAULT_CPU_UTILIZATION_PERCENT }),
    canary: z
      .object({
        /**
         * Share of traffic (percent) on the canary track when Pulumi creates it. imctl rollout owns the weight
         * afterwards: the program ignores later changes to it. Default 0.
         */
        weight: count(0, 100).default(0),
      })
      .strict()
      .default({ weight: 0 }),
    /**
     * Where imctl reads the platform's metrics (rollout analysis, doctor's alerts, bandwidth audits): either a URL
     * it reaches directly, or an in-cluster Service reached through the API server's service proxy with the
     * kubeconfig's credentials (`<namespace>/<service>:<port>`, no port-forward needed). Default: none (rollout
     * then needs --prometheus; doctor and bandwidth say what they skip).
     */
    prometheus: z
      .object({
        url: z.url({ protocol: /^https?$/ }).optional(),
        service: z
          .string()
          .regex(
            /^[a-z0-9-]{1,63}\/[a-z0-9-]{1,63}:\d{1,5}$/,
            "<namespace>/<service>:<port>, e.g. im-observability/prometheus:9090",
          )
          .optional(),
        /** How often that Prometheus scrapes the pods, seconds (the audit's rate windows follow it). Default 30. */
        scrapeIntervalSeconds: count(1, 600).default(30),
      })
      .strict()
      .refine((p) => (p.url === undefined) !== (p.service === undefined), "exactly one of url or service")
      .optional(),
    /** Seconds a gateway has to move its WebSocket clients elsewhere after SIGTERM. Default 60. */
    drainSeconds: count(1, 3600).default(60),
    services: z.object({ gateway: workload, message: workload, userCenter: workload }).strict(),
  })
  .strict();

/** Alibaba Cloud allows 20 tags on a resource (AWS 50): a stack's tags must fit on both. */
export const MAX_TAGS = 20;

export const tagsSpec = z
  .record(
    z
      .string()
      .regex(
        /^(?!aws:|acs:|aliyun)[A-Za-z0-9 _.:/=+@-]{1,128}$/,
        "a tag key of 1-128 characters, not starting with aws:, acs: or aliyun",
      ),
    z.string().max(256),
  )
  .refine((t) => Object.keys(t).length <= MAX_TAGS, {
    message: `must have at most ${MAX_TAGS} tags (Alibaba Cloud's limit on a resource; AWS allows 50)`,
  });

export type CloudSpec = z.infer<typeof cloudSpec>;
export type CloudsSpec = z.infer<typeof cloudsSpec>;
export type MulticloudSpec = z.infer<typeof multicloudSpec>;
export type KubernetesSpec = z.infer<typeof kubernetesSpec>;
export type WorkloadSpec = z.infer<typeof workload>;
