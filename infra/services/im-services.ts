/**
 * The three IM services in one cluster: their namespace (Pod Security "restricted"), and gateway, message and
 * user-center as ImService components wired to the data tier's endpoints. The internal token and the token signing
 * keys live in the Secret `SECRET_NAME`. On the clouds the operator creates it from the secret store, so the values
 * never enter Pulumi's state; on an existing cluster the program derives them from its seed and keeps them as Pulumi
 * secrets (infra/cluster/existing-cluster.ts). The database credentials are the program's own (generated with the
 * user the migrations Job creates) and live in `DATABASE_SECRET_NAME`. Gateway and user-center are reached through
 * HTTPRoutes on the platform's Gateway API Gateway (`gateway`).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { secretData } from "../cluster/secret-data.ts";
import {
  DATA_AUTH_SECRET,
  KAFKA_PASSWORD_KEY,
  KAFKA_USERNAME_KEY,
  REDIS_PASSWORD_KEY,
} from "../data/data-credentials.ts";
import { RESTRICTED_NAMESPACE_LABELS } from "../lib/pod-security.ts";
import type { WorkloadSpec } from "../lib/spec-cloud.ts";
import { groupsEnv, type GroupsSpec } from "../lib/spec-groups.ts";
import { ImService, type EnvVar, type Exposure, type GatewayRef } from "./im-service.ts";

/** The Secret every service reads its operator-held credentials from. */
export const SECRET_NAME = "im-platform-secrets";
export const SECRET_KEYS = ["INTERNAL_TOKEN", "TOKEN_KEYS", "TOKEN_ACTIVE_KID"] as const;
/** The Secret (DB_USER, DB_PASSWORD) of the database user the program generates (infra/data/database-schema.ts). */
export const DATABASE_SECRET_NAME = "im-database";

/** Where the data tier answers, as the services' environment expects it. */
export interface DataEndpoints {
  databaseHost: pulumi.Input<string>;
  databasePort: pulumi.Input<number>;
  /** Comma-separated host:port list of Redis Cluster seed nodes. */
  redisNodes: pulumi.Input<string>;
  /** Comma-separated host:port list of Kafka bootstrap brokers. */
  kafkaBrokers: pulumi.Input<string>;
  /**
   * Which of them speak TLS (the managed services encrypt in transit), and the Secret holding a CA the system's
   * roots do not cover (Tair's), mounted for the services as a file.
   */
  tls: {
    database: boolean;
    /** The cert-manager ClusterIssuer of the database's CA: the services get a client certificate (and ca.crt) from it. */
    databaseCa?: { issuer: string } | undefined;
    redis: boolean;
    kafka: boolean;
    redisCa?: { secretName: string; key: string } | undefined;
  };
  /**
   * What the services present to Redis and Kafka, put into the Secret `DATA_AUTH_SECRET` of their namespace and read
   * as `secretKeyRef`s. Default none (the local target's and an existing cluster's data tier take no credentials).
   */
  auth?: {
    redisPassword?: pulumi.Input<string> | undefined;
    kafka?: { mechanism: string; username: string; password: pulumi.Input<string> } | undefined;
  };
}

/** Where a data-tier CA Secret is mounted in the services' pods. */
export const CA_MOUNT_PATH = "/etc/im/ca";
/** The services' TiDB client certificate (its Secret also carries the CA, ca.crt), and where it is mounted. */
export const DATABASE_TLS_SECRET = "im-tidb-tls";
export const DATABASE_TLS_MOUNT_PATH = "/etc/im/tidb";

export interface ImServicesArgs {
  namespace: string;
  /** The services' version (SERVICE_VERSION). */
  version: string;
  /** The image each service runs (a registry tag, or a pushed image's digest reference: infra/services/service-images.ts). */
  images: Record<"gateway" | "message" | "userCenter", pulumi.Input<string>>;
  replicas: Record<"gateway" | "message" | "userCenter", number>;
  workloads: Record<"gateway" | "message" | "userCenter", WorkloadSpec>;
  cpuUtilizationPercent: number;
  canaryWeight: number;
  drainSeconds: number;
  zones: number;
  /** The public host name the routes match. */
  ingress: { host: string };
  databaseName: string;
  kafkaTopicStored: string;
  groupWriteDiffusionMax: number;
  /** Sub-groups of large groups (docs/groups.md): the GROUP_* variables of user-center, which places members. */
  groups: GroupsSpec;
  endpoints: DataEndpoints;
  /** The services' database user, created by the migrations Job; the password is a secret Output. */
  database: { user: string; password: pulumi.Input<string> };
  /**
   * Create the namespace here (labelled Pod Security restricted). False: the caller created `namespace` (and
   * orders this component after it). Default true.
   */
  manageNamespace?: boolean;
  /**
   * The Gateway API Gateway that gateway and user-center are exposed on (an HTTPRoute each), and the listener to
   * attach to (the HTTPS one on the clouds).
   */
  gateway: GatewayRef;
  /** Node labels the pods must match. Default { "im/tier": "app" } (the clouds' app node groups). */
  nodeSelector?: Record<string, string>;
  /** Taints the pods tolerate. Default none. */
  tolerations?: k8s.types.input.core.v1.Toleration[];
}

export class ImServices extends pulumi.ComponentResource {
  readonly services: Record<"gateway" | "message" | "userCenter", ImService>;
  readonly namespace: pulumi.Output<string>;

  constructor(name: string, args: ImServicesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:services:ImServices", name, {}, opts);
    const namespace: pulumi.Output<string> =
      args.manageNamespace === false
        ? pulumi.output(args.namespace)
        : new k8s.core.v1.Namespace(
            `${name}-namespace`,
            {
              metadata: {
                name: args.namespace,
                labels: { ...RESTRICTED_NAMESPACE_LABELS, "app.kubernetes.io/part-of": "im-platform" },
              },
            },
            { parent: this },
          ).metadata.name;
    const databaseSecret = new k8s.core.v1.Secret(
      `${name}-database`,
      {
        metadata: { name: DATABASE_SECRET_NAME, namespace },
        type: "Opaque",
        data: secretData({ DB_USER: args.database.user, DB_PASSWORD: args.database.password }),
      },
      { parent: this },
    );
    const e = args.endpoints;
    const auth = dataAuthEnv(name, namespace, e.auth, this);
    const flag = (on: boolean) => (on ? "true" : "false");
    const redisCa = e.tls.redisCa;
    const databaseCa = e.tls.databaseCa;
    if (databaseCa !== undefined) {
      new k8s.apiextensions.CustomResource(
        `${name}-database-tls`,
        {
          apiVersion: "cert-manager.io/v1",
          kind: "Certificate",
          metadata: { name: DATABASE_TLS_SECRET, namespace },
          spec: {
            secretName: DATABASE_TLS_SECRET,
            commonName: "im-services",
            duration: "8760h",
            renewBefore: "720h",
            usages: ["client auth"],
            privateKey: { algorithm: "ECDSA", size: 256 },
            issuerRef: { name: databaseCa.issuer, kind: "ClusterIssuer" },
          },
        },
        { parent: this },
      );
    }
    const common: EnvVar[] = [
      { name: "SERVICE_VERSION", value: args.version },
      { name: "INSTANCE_ID", fieldPath: "metadata.name" },
      { name: "LOG_LEVEL", value: "info" },
      { name: "INTERNAL_TOKEN", secretKey: "INTERNAL_TOKEN" },
      { name: "REDIS_NODES", value: e.redisNodes },
      { name: "REDIS_TLS", value: flag(e.tls.redis) },
      ...(redisCa === undefined ? [] : [{ name: "REDIS_TLS_CA_FILE", value: `${CA_MOUNT_PATH}/${redisCa.key}` }]),
      ...auth.redis,
    ];
    const tokens: EnvVar[] = [
      { name: "TOKEN_KEYS", secretKey: "TOKEN_KEYS" },
      { name: "TOKEN_ACTIVE_KID", secretKey: "TOKEN_ACTIVE_KID" },
    ];
    const database: EnvVar[] = [
      { name: "DB_HOST", value: e.databaseHost },
      { name: "DB_PORT", value: pulumi.output(e.databasePort).apply(String) },
      { name: "DB_NAME", value: args.databaseName },
      { name: "DB_USER", secretKey: "DB_USER", secretName: DATABASE_SECRET_NAME },
      { name: "DB_PASSWORD", secretKey: "DB_PASSWORD", secretName: DATABASE_SECRET_NAME },
      { name: "DB_TLS", value: flag(e.tls.database) },
      ...(databaseCa === undefined ? [] : [{ name: "DB_TLS_CA_FILE", value: `${DATABASE_TLS_MOUNT_PATH}/ca.crt` }]),
    ];
    const groups: EnvVar[] = Object.entries(groupsEnv(args.groups)).map(([name, value]) => ({ name, value }));
    const port = 8080;
    const internalUrl = (service: string) => `http://${service}.${args.namespace}.svc:${port}`;
    const env: Record<"gateway" | "message" | "userCenter", EnvVar[]> = {
      gateway: [
        ...common,
        ...tokens,
        { name: "MESSAGE_URLS", value: internalUrl("message") },
        // The message service notifies the gateway pod that holds a connection, at the pod's own address.
        { name: "POD_IP", fieldPath: "status.podIP" },
        { name: "INTERNAL_URL", value: `http://$(POD_IP):${port}` },
      ],
      message: [
        ...common,
        ...database,
        { name: "KAFKA_BROKERS", value: e.kafkaBrokers },
        { name: "KAFKA_TLS", value: flag(e.tls.kafka) },
        { name: "KAFKA_TOPIC_STORED", value: args.kafkaTopicStored },
        ...auth.kafka,
        // The message service reports each sub-group's warn bar (capacity x warn ratio) for the SubGroupWarn alert.
        ...groups,
      ],
      userCenter: [
        ...common,
        ...tokens,
        ...database,
        { name: "GROUP_WRITE_DIFFUSION_MAX", value: String(args.groupWriteDiffusionMax) },
        ...groups,
      ],
    };
    const gateway = args.gateway;
    // Gateway API path prefixes match whole segments: "/v1" covers /v1/... (and not /v10).
    const exposure = (path: string): Exposure => ({ kind: "gateway", host: args.ingress.host, path, gateway });
    const services = {
      gateway: { k8sName: "gateway", exposure: exposure("/ws"), drain: args.drainSeconds },
      message: { k8sName: "message", exposure: { kind: "internal" } as Exposure, drain: 10 },
      userCenter: { k8sName: "user-center", exposure: exposure("/v1"), drain: 10 },
    } as const;
    const built = {} as Record<"gateway" | "message" | "userCenter", ImService>;
    for (const key of ["gateway", "message", "userCenter"] as const) {
      const s = services[key];
      const w = args.workloads[key];
      built[key] = new ImService(
        `${name}-${s.k8sName}`,
        {
          namespace,
          service: s.k8sName,
          image: args.images[key],
          replicas: args.replicas[key],
          maxReplicas: w.maxReplicas,
          cpuMillis: w.cpuMillis,
          memoryMiB: w.memoryMiB,
          cpuUtilizationPercent: args.cpuUtilizationPercent,
          canaryWeight: args.canaryWeight,
          zones: args.zones,
          exposure: s.exposure,
          env: env[key],
          secretName: SECRET_NAME,
          secretMounts: [
            ...(redisCa === undefined
              ? []
              : [{ name: "data-ca", secretName: redisCa.secretName, mountPath: CA_MOUNT_PATH }]),
            ...(databaseCa === undefined
              ? []
              : [{ name: "database-tls", secretName: DATABASE_TLS_SECRET, mountPath: DATABASE_TLS_MOUNT_PATH }]),
          ],
          drainSeconds: s.drain,
          port,
          ...(args.nodeSelector === undefined ? {} : { nodeSelector: args.nodeSelector }),
          ...(args.tolerations === undefined ? {} : { tolerations: args.tolerations }),
        },
        // The pods read DB_USER and DB_PASSWORD at start: the Secret exists before the first pod does.
        { parent: this, dependsOn: [databaseSecret, ...auth.secret] },
      );
    }
    this.services = built;
    this.namespace = namespace;
    this.registerOutputs({ namespace });
  }
}

/**
 * The Secret with the data tier's credentials in the services' namespace, and the environment that reads it. Only the
 * mechanism is a plain value; user names and passwords come through `secretKeyRef`, never a ConfigMap or a literal.
 */
function dataAuthEnv(
  name: string,
  namespace: pulumi.Input<string>,
  auth: DataEndpoints["auth"],
  parent: pulumi.Resource,
): { redis: EnvVar[]; kafka: EnvVar[]; secret: k8s.core.v1.Secret[] } {
  const redisPassword = auth?.redisPassword;
  const kafka = auth?.kafka;
  if (redisPassword === undefined && kafka === undefined) return { redis: [], kafka: [], secret: [] };
  const secret = new k8s.core.v1.Secret(
    `${name}-data-auth`,
    {
      metadata: { name: DATA_AUTH_SECRET, namespace },
      type: "Opaque",
      data: secretData({
        ...(redisPassword === undefined ? {} : { [REDIS_PASSWORD_KEY]: redisPassword }),
        ...(kafka === undefined ? {} : { [KAFKA_USERNAME_KEY]: kafka.username, [KAFKA_PASSWORD_KEY]: kafka.password }),
      }),
    },
    { parent },
  );
  const fromSecret = (key: string): EnvVar => ({ name: key, secretKey: key, secretName: DATA_AUTH_SECRET });
  return {
    redis: redisPassword === undefined ? [] : [fromSecret(REDIS_PASSWORD_KEY)],
    kafka:
      kafka === undefined
        ? []
        : [
            { name: "KAFKA_SASL_MECHANISM", value: kafka.mechanism },
            fromSecret(KAFKA_USERNAME_KEY),
            fromSecret(KAFKA_PASSWORD_KEY),
          ],
    secret: [secret],
  };
}
