/**
 * The platform on a cluster that already exists (a stack with `cluster` instead of `clouds`; see
 * stacks/embedded-cluster.yaml and docs/existing-cluster.md): only the in-cluster layers, through one kubernetes
 * provider built from the stack's kubeconfig and context. No cloud, random or docker-build resource is declared, so
 * it runs wherever the kubernetes provider does (the engine of `imctl up`, tests against the embedded cluster).
 *
 * What it creates: the services' namespace (Pod Security restricted: enforce, audit, warn), the Secrets the services
 * and monitoring read, generated from one seed (infra/lib/derived-secrets.ts) and kept as Pulumi secrets, the
 * migrations Job against the external database, the services (Deployments, HPA, PDB, zone spread), a Gateway with
 * HTTPRoutes for /ws and /v1, and, when the Prometheus Operator is preinstalled, the rules and scrape objects.
 * Server-side apply: the API server validates every object against its schema (a field it does not know fails the
 * update instead of being dropped).
 */
import { homedir } from "node:os";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { REPO_ROOT } from "../../base/root.mjs";
import { DATA_NAMESPACE } from "../data/data-tier.ts";
import { DatabaseSchema, MIGRATE_JOB_NAME } from "../data/database-schema.ts";
import { TIDB_ROOT_SECRET } from "../data/tidb-cluster.ts";
import { GATEWAY_NAME, PlatformGateway } from "../gateway/platform-gateway.ts";
import {
  MIN_SEED_LENGTH,
  platformSecretValues,
  SECRET_SEED_CONFIG_KEY,
  SEED_TOO_SHORT,
  SeedError,
} from "../lib/derived-secrets.ts";
import { RESTRICTED_NAMESPACE_LABELS } from "../lib/pod-security.ts";
import { DATA_OPERATORS, resolveKubeconfig, TAG_LABEL_PREFIX, type Preinstalled } from "../lib/spec-cluster.ts";
import { SpecError, type ExistingClusterPlatformSpec } from "../lib/spec.ts";
import { GRAFANA_ADMIN_SECRET, MONITORING_NAMESPACE, Monitoring } from "../observability/monitoring.ts";
import { DATABASE_SECRET_NAME, ImServices, SECRET_NAME } from "../services/im-services.ts";
import { DATABASE_ADMIN_SECRET, externalData, inClusterData } from "./existing-cluster-data.ts";
import { secretData } from "./secret-data.ts";

export interface ExistingClusterOptions {
  /**
   * The seed every generated secret derives from (at least 32 characters; `openssl rand -hex 32`). Default: the
   * project config secret `secretSeed` (`pulumi config set --secret secretSeed ...`); the run fails without either.
   */
  secretSeed?: pulumi.Input<string>;
  /**
   * The password of `cluster.data.database.adminUser`, which the migrations Job signs in with. Default: the project
   * config secret `databaseAdminPassword`, else empty (an admin without a password).
   */
  databaseAdminPassword?: pulumi.Input<string>;
  /**
   * The images of the services by full reference, instead of `<kubernetes.image.registry>/<service>:<tag>`: the
   * content-tagged images `imctl cluster up --nodes real` builds into the embedded cluster's real node (registry
   * `imctl.local` in the stack; imctl passes them).
   */
  imageRefs?: { gateway: string; message: string; userCenter: string };
}

/** What the program created, and the stack outputs an inline Automation API program can return as they are. */
export interface ExistingClusterDeployment {
  provider: k8s.Provider;
  services: ImServices;
  gateway: PlatformGateway;
  schema: DatabaseSchema;
  monitoring: Monitoring | undefined;
  outputs: ExistingClusterOutputs;
}

export interface ExistingClusterOutputs {
  /** The services' namespace. */
  namespace: pulumi.Output<string>;
  /** Every Deployment the platform runs, as namespace/name (the stable and canary tracks, the exporters). */
  deployments: string[];
  /** The Gateway's first address, "" while the cluster's controller has assigned none. */
  gatewayAddress: pulumi.Output<string>;
  /** namespace/name of the Gateway. */
  gateway: string;
  /** The migrations Job's name. */
  migrationsJob: pulumi.Output<string>;
  /** The Secrets the program generated (their values are Pulumi secrets in the state, never outputs). */
  secrets: string[];
  /** The preinstalled operators whose objects the program created. */
  preinstalled: Preinstalled[];
  /** Where the data tier is (cluster.data.mode). */
  data: "external" | "in-cluster";
}

/** The Pulumi config key of the seed (project im-platform). */
export { SECRET_SEED_CONFIG_KEY };
export const DATABASE_ADMIN_PASSWORD_CONFIG_KEY = "databaseAdminPassword";
/** The Secret (key `password`) the migrations Job reads the database admin's password from. */
export { DATABASE_ADMIN_SECRET };
/** Grafana's admin login name in the generated im-grafana-admin Secret. */
export const GRAFANA_ADMIN_USER = "admin";

/** One line when gateway-api is not declared (the schema refuses it first; this guards callers that skip it). */
export const NO_GATEWAY_API = (source: string) =>
  `${source}: cluster.preinstalled: gateway-api is missing; the traffic layer is a Gateway and HTTPRoutes ` +
  "(ingress-nginx is retired): install the Gateway API and declare it";

export function deployExistingCluster(
  spec: ExistingClusterPlatformSpec,
  opts: ExistingClusterOptions = {},
): ExistingClusterDeployment {
  const c = spec.cluster;
  const k = spec.kubernetes;
  if (!c.preinstalled.includes("gateway-api")) throw new SpecError(NO_GATEWAY_API(`stacks/${spec.name}.yaml`));
  const seed = secretSeed(opts);
  const config = new pulumi.Config();
  const adminPassword =
    opts.databaseAdminPassword ?? config.getSecret(DATABASE_ADMIN_PASSWORD_CONFIG_KEY) ?? pulumi.secret("");
  // Derived once; every value below is a secret Output (the state holds them encrypted).
  const values = pulumi.output(seed).apply((s) => {
    if (s.length < MIN_SEED_LENGTH) throw new SeedError(SEED_TOO_SHORT(s.length));
    return platformSecretValues(s);
  });
  const secret = <T>(f: (v: ReturnType<typeof platformSecretValues>) => T) => pulumi.secret(values.apply(f));

  const provider = new k8s.Provider("existing-cluster", {
    kubeconfig: resolveKubeconfig(c.kubeconfig, REPO_ROOT, homedir()),
    context: c.context,
    enableServerSideApply: true,
  });
  const on = { provider };
  const tagLabels = Object.fromEntries(Object.entries(spec.tags).map(([key, v]) => [`${TAG_LABEL_PREFIX}${key}`, v]));
  const namespace = new k8s.core.v1.Namespace(
    "cluster-namespace",
    {
      metadata: {
        name: k.namespace,
        labels: { ...RESTRICTED_NAMESPACE_LABELS, ...tagLabels, "app.kubernetes.io/part-of": "im-platform" },
      },
    },
    on,
  );
  const ns = namespace.metadata.name;
  const platformSecret = new k8s.core.v1.Secret(
    "cluster-platform-secrets",
    {
      metadata: { name: SECRET_NAME, namespace: ns },
      type: "Opaque",
      data: secretData({
        INTERNAL_TOKEN: secret((v) => v.platform.INTERNAL_TOKEN),
        TOKEN_KEYS: secret((v) => v.platform.TOKEN_KEYS),
        TOKEN_ACTIVE_KID: secret((v) => v.platform.TOKEN_ACTIVE_KID),
      }),
    },
    on,
  );
  const gateway = new PlatformGateway(
    "cluster-gateway",
    { namespace: ns, className: c.gatewayClassName, provider },
    { providers: [provider] },
  );

  const byRef: Record<string, string | undefined> = {
    gateway: opts.imageRefs?.gateway,
    message: opts.imageRefs?.message,
    "user-center": opts.imageRefs?.userCenter,
  };
  const images = (s: string) => byRef[s] ?? `${k.image.registry ?? ""}/${s}:${k.image.tag}`;
  const data =
    c.data.mode === "external"
      ? externalData(c.data, ns, adminPassword, on)
      : inClusterData(
          spec,
          c.data,
          seed,
          secret((v) => v.tidbRootPassword),
          on,
        );
  // The schema and the services' user, migrated with the message image before any Deployment rolls.
  const schema = new DatabaseSchema(
    "cluster-schema",
    {
      namespace: data.schemaNamespace,
      databaseName: spec.data.database.name,
      host: data.endpoints.databaseHost,
      port: data.endpoints.databasePort,
      image: images("message"),
      rootSecret: data.rootSecret,
      rootUser: data.rootUser,
      password: secret((v) => v.databasePassword),
      tolerations: c.tolerations,
      nodeSelector: c.nodeSelector,
      provider,
    },
    { providers: [provider], dependsOn: data.ready },
  );
  const endpoints = data.endpoints;
  const services = new ImServices(
    "cluster-services",
    {
      namespace: k.namespace,
      manageNamespace: false,
      version: k.image.tag,
      images: { gateway: images("gateway"), message: images("message"), userCenter: images("user-center") },
      replicas: {
        gateway: spec.services.gateway.replicas,
        message: spec.services.message.replicas,
        userCenter: spec.services.userCenter.replicas,
      },
      workloads: k.services,
      cpuUtilizationPercent: k.autoscaling.cpuUtilizationPercent,
      canaryWeight: k.canary.weight,
      drainSeconds: k.drainSeconds,
      zones: c.zones.length,
      ingress: k.ingress,
      gateway: { name: gateway.name, namespace: gateway.namespace },
      nodeSelector: c.nodeSelector,
      tolerations: c.tolerations,
      databaseName: spec.data.database.name,
      kafkaTopicStored: spec.data.kafka.topics[0]?.name ?? "im.message.stored",
      groupWriteDiffusionMax: spec.messaging.groupWriteDiffusionMax,
      groups: spec.messaging.groups,
      endpoints,
      database: { user: schema.user, password: schema.password },
    },
    { providers: [provider], dependsOn: [namespace, platformSecret, schema, gateway] },
  );
  const operator = c.preinstalled.includes("prometheus-operator");
  const monitoring = operator
    ? new Monitoring(
        "cluster-monitoring",
        {
          tenant: { platform: spec.name, cloud: "cluster", region: c.context },
          servicesNamespace: ns,
          dataNamespace: data.namespace ?? ns,
          endpoints,
          kafkaInCluster: data.namespace !== undefined,
          secretName: DATABASE_SECRET_NAME,
          operator: "preinstalled",
          traefik: false,
          grafanaAdmin: { user: GRAFANA_ADMIN_USER, password: secret((v) => v.grafanaAdminPassword) },
          nodeSelector: c.nodeSelector,
          tolerations: c.tolerations,
          provider,
        },
        { providers: [provider], dependsOn: [services] },
      )
    : undefined;

  const deployments = (["gateway", "message", "user-center"] as const).flatMap((s) =>
    (["stable", "canary"] as const).map((t) => `${k.namespace}/${s}-${t}`),
  );
  if (monitoring !== undefined)
    deployments.push(`${MONITORING_NAMESPACE}/redis-exporter`, `${k.namespace}/mysqld-exporter`);
  return {
    provider,
    services,
    gateway,
    schema,
    monitoring,
    outputs: {
      namespace: services.namespace,
      deployments,
      gatewayAddress: gateway.address,
      gateway: `${k.namespace}/${GATEWAY_NAME}`,
      migrationsJob: schema.job.metadata.name,
      secrets: [
        `${k.namespace}/${SECRET_NAME}`,
        `${k.namespace}/${DATABASE_SECRET_NAME}`,
        data.namespace === undefined
          ? `${k.namespace}/${DATABASE_ADMIN_SECRET}`
          : `${DATA_NAMESPACE}/${TIDB_ROOT_SECRET}`,
        `${data.namespace === undefined ? k.namespace : DATA_NAMESPACE}/${MIGRATE_JOB_NAME}-credentials`,
        ...data.secrets,
        ...(monitoring === undefined ? [] : [`${MONITORING_NAMESPACE}/${GRAFANA_ADMIN_SECRET}`]),
      ],
      preinstalled: c.preinstalled.filter(
        (p) =>
          p === "gateway-api" ||
          (p === "prometheus-operator" && operator) ||
          ((DATA_OPERATORS as readonly string[]).includes(p) && data.namespace !== undefined),
      ),
      data: c.data.mode,
    },
  };
}

/** The seed from the options, else the project config secret; a plain string too short is refused right here. */
function secretSeed(opts: ExistingClusterOptions): pulumi.Input<string> {
  const seed = opts.secretSeed;
  if (typeof seed === "string" && seed.length < MIN_SEED_LENGTH) throw new SeedError(SEED_TOO_SHORT(seed.length));
  return seed ?? new pulumi.Config().requireSecret(SECRET_SEED_CONFIG_KEY);
}
