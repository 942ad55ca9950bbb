/**
 * Observability of one cluster: kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, Grafana,
 * node-exporter, kube-state-metrics), the same alert rules file the local target loads (as a PrometheusRule), the
 * dashboards generated from code (as Grafana sidecar ConfigMaps), and the scrapes that make the rules' series
 * exist here under the same names and `job` labels as on the local target: the services (PodMonitor, job
 * im-services), the clouds' Gateway API proxy (Traefik, job traefik, the cluster's stand-in for the local nginx), Kafka
 * through Strimzi's JMX exporter with the local target's configuration (job kafka), Redis
 * through redis_exporter's multi-target endpoint (job redis), the database through mysqld_exporter (job mysql).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { secretData } from "../cluster/secret-data.ts";
import {
  RESTRICTED_NAMESPACE_LABELS,
  restrictedContainerSecurityContext,
  restrictedPodSecurityContext,
} from "../lib/pod-security.ts";
import { TRAEFIK_NAMESPACE, TRAEFIK_POD_LABELS } from "../gateway/traefik.ts";
import type { DataEndpoints } from "../services/im-services.ts";
import { platformDashboards, type Tenant } from "./dashboards/platform-dashboards.ts";
import { KAFKA_JMX_EXPORTER_CONFIG, KAFKA_METRICS_CONFIGMAP, KAFKA_METRICS_KEY } from "./kafka-jmx.ts";
import { loadRuleGroups } from "./rules.ts";

/** Pinned: the CRDs (PrometheusRule, PodMonitor, ScrapeConfig) it installs change between majors. Not checked against the registry. */
export const KUBE_PROMETHEUS_STACK_CHART_VERSION = "66.3.1";
/** Exporter images, pinned; not checked against the registry. */
/** The redis exporter's Secret (REDIS_PASSWORD), when the data tier's Redis takes a password. */
export const REDIS_EXPORTER_SECRET = "im-redis-exporter-auth";
export const REDIS_EXPORTER_IMAGE = "quay.io/oliver006/redis_exporter:v1.66.0";
export const MYSQLD_EXPORTER_IMAGE = "quay.io/prometheus/mysqld-exporter:v0.16.0";

export const MONITORING_NAMESPACE = "monitoring";
/** The Secret (keys admin-user, admin-password) Grafana's admin login comes from; created out of band, like the services' secret. */
export const GRAFANA_ADMIN_SECRET = "im-grafana-admin";
/** Defaults of MonitoringArgs. */
export const MONITORING_DEFAULTS = { retentionDays: 15, storageGb: 50, prometheusReplicas: 2 } as const;

export interface MonitoringArgs {
  /** Which deployment this cluster is: external labels `platform`, `cloud`, `region`, and its tenant dashboard. */
  tenant: Tenant;
  /** Namespace of the IM services (their pods carry app.kubernetes.io/part-of=im-platform). */
  servicesNamespace: pulumi.Input<string>;
  /** Namespace of the in-cluster data tier (Strimzi's Kafka). */
  dataNamespace: pulumi.Input<string>;
  endpoints: DataEndpoints;
  /** Whether Kafka runs in the cluster (Strimzi): only then is its JMX exporter configured and scraped here. */
  kafkaInCluster: boolean;
  /** The services' Secret (DB_USER, DB_PASSWORD), which mysqld_exporter signs in with. */
  secretName: string;
  /** Days of metrics Prometheus keeps. Default 15. */
  retentionDays?: number;
  /** Size of each Prometheus replica's volume in GiB. Default 50. */
  storageGb?: number;
  /**
   * The StorageClass of Prometheus's volumes. Default: none named, the cluster's default class; a cloud cluster has
   * none (EKS since 1.30, ACK), so the clouds pass the platform's encrypted class (policy im-claims-name-storage-class).
   */
  storageClass?: string;
  /** Prometheus replicas (each scrapes everything; Alertmanager deduplicates). Default 2. */
  prometheusReplicas?: number;
  /**
   * `install`: kube-prometheus-stack from its chart (the clouds). `preinstalled`: the cluster already runs the
   * Prometheus Operator (an existing cluster): only the rules, scrape objects, dashboards and exporters are created,
   * in a namespace that enforces Pod Security restricted. Default install.
   */
  operator?: "install" | "preinstalled";
  /** Scrape the pods of Traefik as infra/gateway/traefik.ts installs it (job traefik). Default true. */
  traefik?: boolean;
  /** The Secret GRAFANA_ADMIN_SECRET's values, when the program generates them. Default: created out of band. */
  grafanaAdmin?: { user: pulumi.Input<string>; password: pulumi.Input<string> } | undefined;
  /** Node labels the exporters (and the chart's workloads) must match. Default { "im/tier": "app" }. */
  nodeSelector?: Record<string, string>;
  /** Taints the exporters tolerate. Default none. */
  tolerations?: k8s.types.input.core.v1.Toleration[];
  provider: k8s.Provider;
}

const APP_NODES: Record<string, string> = { "im/tier": "app" };
/** Sets the scrape's `job` label to the local target's job name, so the rules match on both targets. */
const jobLabel = (job: string) => ({ targetLabel: "job", replacement: job, action: "replace" });

export class Monitoring extends pulumi.ComponentResource {
  readonly namespace: pulumi.Output<string>;
  readonly dashboards: string[];
  readonly alertCount: number;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:observability:Monitoring", name, {}, opts);
    const child = { parent: this, provider: args.provider };
    const t = args.tenant;
    const install = (args.operator ?? "install") === "install";
    const nodes = args.nodeSelector ?? APP_NODES;
    // The chart's node-exporter needs host namespaces (privileged); without the chart nothing here does.
    const nsLabels = install ? {} : RESTRICTED_NAMESPACE_LABELS;
    const ns = new k8s.core.v1.Namespace(
      `${name}-ns`,
      { metadata: { name: MONITORING_NAMESPACE, labels: { ...nsLabels, "app.kubernetes.io/part-of": "im-platform" } } },
      child,
    );
    if (args.grafanaAdmin !== undefined) {
      new k8s.core.v1.Secret(
        `${name}-grafana-admin`,
        {
          metadata: { name: GRAFANA_ADMIN_SECRET, namespace: ns.metadata.name },
          type: "Opaque",
          data: secretData({ "admin-user": args.grafanaAdmin.user, "admin-password": args.grafanaAdmin.password }),
        },
        child,
      );
    }
    const afterCrds = install ? { ...child, dependsOn: [this.chart(name, args, ns.metadata.name, nodes)] } : child;

    const groups = loadRuleGroups();
    new k8s.apiextensions.CustomResource(
      `${name}-rules`,
      {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "PrometheusRule",
        metadata: {
          name: "im-platform",
          namespace: ns.metadata.name,
          labels: { "app.kubernetes.io/part-of": "im-platform" },
        },
        spec: { groups },
      },
      afterCrds,
    );
    this.alertCount = groups.reduce((n, g) => n + g.rules.length, 0);

    const dashboards = platformDashboards([t]);
    for (const d of dashboards) {
      new k8s.core.v1.ConfigMap(
        `${name}-dashboard-${d.uid}`,
        {
          metadata: {
            name: `grafana-dashboard-${d.uid}`,
            namespace: ns.metadata.name,
            labels: { grafana_dashboard: "1", "app.kubernetes.io/part-of": "im-platform" },
          },
          data: { [`${d.uid}.json`]: JSON.stringify(d) },
        },
        child,
      );
    }
    this.dashboards = dashboards.map((d) => d.uid);

    // The services: one PodMonitor over both tracks (a ServiceMonitor would scrape each pod once per Service).
    // honorLabels keeps the services' own `service`, `version` and `instance` labels, which canary analysis compares.
    new k8s.apiextensions.CustomResource(
      `${name}-services`,
      {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "PodMonitor",
        metadata: { name: "im-services", namespace: args.servicesNamespace },
        spec: {
          selector: { matchLabels: { "app.kubernetes.io/part-of": "im-platform" } },
          podMetricsEndpoints: [
            {
              port: "http",
              path: "/metrics",
              interval: "15s",
              honorLabels: true,
              relabelings: [
                jobLabel("im-services"),
                { sourceLabels: ["__meta_kubernetes_pod_label_im_track"], targetLabel: "track" },
              ],
            },
          ],
        },
      },
      afterCrds,
    );

    // Traefik (infra/gateway/traefik.ts) serves its metrics on its pods' "metrics" port. The monitor lives here and
    // selects that namespace, so it never waits for Traefik's namespace to exist.
    if (args.traefik ?? true)
      new k8s.apiextensions.CustomResource(
        `${name}-traefik`,
        {
          apiVersion: "monitoring.coreos.com/v1",
          kind: "PodMonitor",
          metadata: { name: "traefik", namespace: ns.metadata.name },
          spec: {
            namespaceSelector: { matchNames: [TRAEFIK_NAMESPACE] },
            selector: { matchLabels: TRAEFIK_POD_LABELS },
            podMetricsEndpoints: [{ port: "metrics", interval: "15s", relabelings: [jobLabel("traefik")] }],
          },
        },
        afterCrds,
      );

    if (args.kafkaInCluster) this.kafka(name, args, afterCrds);
    this.redis(name, args, ns.metadata.name, afterCrds);
    this.database(name, args, afterCrds);

    this.namespace = ns.metadata.name;
    this.registerOutputs({ namespace: this.namespace, dashboards: this.dashboards, alertCount: this.alertCount });
  }

  /** kube-prometheus-stack: the operator and its CRDs, Prometheus, Alertmanager and Grafana. */
  private chart(
    name: string,
    args: MonitoringArgs,
    namespace: pulumi.Output<string>,
    nodes: Record<string, string>,
  ): k8s.helm.v3.Release {
    const t = args.tenant;
    return new k8s.helm.v3.Release(
      `${name}-stack`,
      {
        chart: "kube-prometheus-stack",
        version: KUBE_PROMETHEUS_STACK_CHART_VERSION,
        repositoryOpts: { repo: "https://prometheus-community.github.io/helm-charts" },
        namespace,
        values: {
          prometheus: {
            prometheusSpec: {
              replicas: args.prometheusReplicas ?? MONITORING_DEFAULTS.prometheusReplicas,
              retention: `${args.retentionDays ?? MONITORING_DEFAULTS.retentionDays}d`,
              externalLabels: { platform: t.platform, cloud: t.cloud, region: t.region },
              // Select every PrometheusRule, PodMonitor, ServiceMonitor and ScrapeConfig, not only the chart's own.
              ruleSelectorNilUsesHelmValues: false,
              serviceMonitorSelectorNilUsesHelmValues: false,
              podMonitorSelectorNilUsesHelmValues: false,
              scrapeConfigSelectorNilUsesHelmValues: false,
              nodeSelector: nodes,
              storageSpec: {
                volumeClaimTemplate: {
                  spec: {
                    ...(args.storageClass === undefined ? {} : { storageClassName: args.storageClass }),
                    accessModes: ["ReadWriteOnce"],
                    resources: { requests: { storage: `${args.storageGb ?? MONITORING_DEFAULTS.storageGb}Gi` } },
                  },
                },
              },
            },
          },
          alertmanager: { alertmanagerSpec: { replicas: 2, nodeSelector: nodes } },
          grafana: {
            admin: { existingSecret: GRAFANA_ADMIN_SECRET, userKey: "admin-user", passwordKey: "admin-password" },
            nodeSelector: nodes,
            sidecar: {
              dashboards: { enabled: true, label: "grafana_dashboard", labelValue: "1", searchNamespace: "ALL" },
            },
          },
        },
      },
      { parent: this, provider: args.provider },
    );
  }

  /** Strimzi runs the JMX exporter in each broker with the configuration of this ConfigMap (see KafkaCluster). */
  private kafka(name: string, args: MonitoringArgs, opts: pulumi.CustomResourceOptions): void {
    new k8s.core.v1.ConfigMap(
      `${name}-kafka-jmx`,
      {
        metadata: { name: KAFKA_METRICS_CONFIGMAP, namespace: args.dataNamespace },
        data: { [KAFKA_METRICS_KEY]: KAFKA_JMX_EXPORTER_CONFIG },
      },
      { parent: this, provider: args.provider },
    );
    new k8s.apiextensions.CustomResource(
      `${name}-kafka`,
      {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "PodMonitor",
        metadata: { name: "im-kafka", namespace: args.dataNamespace },
        spec: {
          selector: { matchLabels: { "strimzi.io/cluster": "im-kafka", "strimzi.io/kind": "Kafka" } },
          podMetricsEndpoints: [
            { port: "tcp-prometheus", path: "/metrics", interval: "15s", relabelings: [jobLabel("kafka")] },
          ],
        },
      },
      opts,
    );
  }

  /** One redis_exporter scrapes every node through /scrape?target= (the multi-target pattern, as on the local target). */
  private redis(
    name: string,
    args: MonitoringArgs,
    namespace: pulumi.Output<string>,
    opts: pulumi.CustomResourceOptions,
  ): void {
    const labels = { "app.kubernetes.io/name": "redis-exporter", "app.kubernetes.io/part-of": "im-platform" };
    // redis_exporter signs in to every scraped node with REDIS_PASSWORD, from a Secret of its own namespace.
    const password = args.endpoints.auth?.redisPassword;
    if (password !== undefined)
      new k8s.core.v1.Secret(
        `${name}-redis-auth`,
        {
          metadata: { name: REDIS_EXPORTER_SECRET, namespace },
          type: "Opaque",
          data: secretData({ REDIS_PASSWORD: password }),
        },
        { parent: this, provider: args.provider },
      );
    const env =
      password === undefined
        ? []
        : [
            {
              name: "REDIS_PASSWORD",
              valueFrom: { secretKeyRef: { name: REDIS_EXPORTER_SECRET, key: "REDIS_PASSWORD" } },
            },
          ];
    new k8s.apps.v1.Deployment(
      `${name}-redis-exporter`,
      {
        metadata: { name: "redis-exporter", namespace, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              nodeSelector: args.nodeSelector ?? APP_NODES,
              ...(args.tolerations === undefined ? {} : { tolerations: args.tolerations }),
              securityContext: restrictedPodSecurityContext(59000),
              containers: [
                {
                  name: "redis-exporter",
                  image: REDIS_EXPORTER_IMAGE,
                  ...(env.length === 0 ? {} : { env }),
                  ports: [{ name: "metrics", containerPort: 9121 }],
                  resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "128Mi" } },
                  securityContext: restrictedContainerSecurityContext(),
                },
              ],
            },
          },
        },
      },
      { parent: this, provider: args.provider },
    );
    new k8s.core.v1.Service(
      `${name}-redis-exporter`,
      {
        metadata: { name: "redis-exporter", namespace, labels },
        spec: { selector: labels, ports: [{ name: "metrics", port: 9121, targetPort: "metrics" }] },
      },
      { parent: this, provider: args.provider },
    );
    const targets = pulumi.output(args.endpoints.redisNodes).apply((nodes) =>
      nodes
        .split(",")
        .filter(Boolean)
        .map((n) => `redis://${n.trim()}`),
    );
    new k8s.apiextensions.CustomResource(
      `${name}-redis`,
      {
        apiVersion: "monitoring.coreos.com/v1alpha1",
        kind: "ScrapeConfig",
        metadata: { name: "im-redis", namespace },
        spec: {
          metricsPath: "/scrape",
          staticConfigs: [{ targets }],
          relabelings: [
            { sourceLabels: ["__address__"], targetLabel: "__param_target" },
            { sourceLabels: ["__param_target"], targetLabel: "instance" },
            { targetLabel: "__address__", replacement: pulumi.interpolate`redis-exporter.${namespace}.svc:9121` },
            jobLabel("redis"),
          ],
        },
      },
      opts,
    );
  }

  /** mysqld_exporter in the services' namespace, where the database credentials live; TiDB speaks the MySQL protocol. */
  private database(name: string, args: MonitoringArgs, opts: pulumi.CustomResourceOptions): void {
    const labels = { "app.kubernetes.io/name": "mysqld-exporter", "app.kubernetes.io/component": "monitoring" };
    const secret = (key: string) => ({ secretKeyRef: { name: args.secretName, key } });
    new k8s.apps.v1.Deployment(
      `${name}-mysqld-exporter`,
      {
        metadata: { name: "mysqld-exporter", namespace: args.servicesNamespace, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              nodeSelector: args.nodeSelector ?? APP_NODES,
              ...(args.tolerations === undefined ? {} : { tolerations: args.tolerations }),
              securityContext: restrictedPodSecurityContext(65534),
              containers: [
                {
                  name: "mysqld-exporter",
                  image: MYSQLD_EXPORTER_IMAGE,
                  args: [
                    pulumi.interpolate`--mysqld.address=${args.endpoints.databaseHost}:${args.endpoints.databasePort}`,
                    "--mysqld.username=$(DB_USER)",
                  ],
                  env: [
                    { name: "DB_USER", valueFrom: secret("DB_USER") },
                    { name: "MYSQLD_EXPORTER_PASSWORD", valueFrom: secret("DB_PASSWORD") },
                  ],
                  ports: [{ name: "metrics", containerPort: 9104 }],
                  resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "128Mi" } },
                  securityContext: restrictedContainerSecurityContext(),
                },
              ],
            },
          },
        },
      },
      { parent: this, provider: args.provider },
    );
    new k8s.apiextensions.CustomResource(
      `${name}-mysql`,
      {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "PodMonitor",
        metadata: { name: "im-mysql", namespace: args.servicesNamespace },
        spec: {
          selector: { matchLabels: labels },
          podMetricsEndpoints: [{ port: "metrics", interval: "15s", relabelings: [jobLabel("mysql")] }],
        },
      },
      opts,
    );
  }
}
