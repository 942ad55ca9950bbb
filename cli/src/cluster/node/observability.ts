/**
 * The embedded cluster's Prometheus, applied by `imctl cluster up --nodes real` beside Traefik: one Deployment in
 * `im-observability` on the real node (restricted Pod Security, its TSDB on an emptyDir kept 6 h), scraping the pods
 * annotated `prometheus.io/scrape: "true"` at their `prometheus.io/port` and `prometheus.io/path` (the services'
 * Deployments carry them: infra/services), found by a discovery sidecar (prometheus-sd.mjs) through the API server.
 * Only pods on the real node are scraped: the simulated nodes' pods do not run (docs/embedded-cluster.md).
 * imctl reaches it through the API server's service proxy (`kubernetes.prometheus.service:
 * im-observability/prometheus:9090` in stacks/embedded-cluster.yaml), which the API server's egress makes possible.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { REAL_NODE_LABEL, REAL_NODE_LABEL_VALUE, REAL_NODE_NAME } from "./config.ts";
import type { KubeObject } from "./addons.ts";

export const OBSERVABILITY_NAMESPACE = "im-observability";
export const PROMETHEUS_PORT = 9090;
/** How often pods are scraped and rules evaluated: the local target's default, so analyses read alike. */
export const SCRAPE_INTERVAL_SECONDS = 5;
const UID = 65534;

const labels = { "app.kubernetes.io/name": "prometheus", "app.kubernetes.io/part-of": "imctl-embedded-cluster" };

/** Where the discovery sidecar (prometheus-sd.mjs) serves the targets, inside the pod. */
export const SD_PORT = 9091;
export const SD_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "prometheus-sd.mjs");

/**
 * prometheus.yml: the pods of the real node that ask to be scraped. Debian's Prometheus has no kubernetes_sd, so the
 * sidecar lists them through the API server and serves them as HTTP service discovery, already labelled
 * (namespace, pod, component, track) and with their metrics path.
 */
export function prometheusConfig(): string {
  return stringify({
    global: { scrape_interval: `${SCRAPE_INTERVAL_SECONDS}s`, evaluation_interval: `${SCRAPE_INTERVAL_SECONDS}s` },
    scrape_configs: [
      { job_name: "prometheus", static_configs: [{ targets: [`127.0.0.1:${PROMETHEUS_PORT}`] }] },
      {
        job_name: "pods",
        // The services label their own series (service, version, instance): keep them.
        honor_labels: true,
        http_sd_configs: [
          { url: `http://127.0.0.1:${SD_PORT}/targets`, refresh_interval: `${SCRAPE_INTERVAL_SECONDS}s` },
        ],
      },
    ],
  });
}

/** Prometheus's identity: it lists and watches pods (discovery) and nothing else. */
function access(): KubeObject[] {
  return [
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "prometheus", namespace: OBSERVABILITY_NAMESPACE, labels },
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "imctl:prometheus", labels },
      rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "imctl:prometheus", labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "imctl:prometheus" },
      subjects: [{ kind: "ServiceAccount", name: "prometheus", namespace: OBSERVABILITY_NAMESPACE }],
    },
  ];
}

function deployment(image: string, runtimeImage: string, configHash: string): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "prometheus", namespace: OBSERVABILITY_NAMESPACE, labels },
    spec: {
      replicas: 1,
      // One TSDB: the old pod goes before the new one starts.
      strategy: { type: "Recreate" },
      selector: { matchLabels: labels },
      template: {
        // A changed configuration rolls the pod (Prometheus reads it at start).
        metadata: { labels, annotations: { "imctl.im-platform.io/config": configHash } },
        spec: {
          serviceAccountName: "prometheus",
          nodeSelector: { [REAL_NODE_LABEL]: REAL_NODE_LABEL_VALUE },
          securityContext: {
            runAsNonRoot: true,
            runAsUser: UID,
            runAsGroup: UID,
            fsGroup: UID,
            seccompProfile: { type: "RuntimeDefault" },
          },
          containers: [
            {
              name: "prometheus",
              image,
              imagePullPolicy: "Never",
              args: [
                "--config.file=/etc/prometheus/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                "--storage.tsdb.retention.time=6h",
                `--web.listen-address=:${PROMETHEUS_PORT}`,
              ],
              ports: [{ name: "http", containerPort: PROMETHEUS_PORT }],
              readinessProbe: { httpGet: { path: "/-/ready", port: PROMETHEUS_PORT }, periodSeconds: 5 },
              livenessProbe: { httpGet: { path: "/-/healthy", port: PROMETHEUS_PORT }, periodSeconds: 15 },
              resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "512Mi" } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
              },
              volumeMounts: [
                { name: "config", mountPath: "/etc/prometheus", readOnly: true },
                { name: "data", mountPath: "/prometheus" },
              ],
            },
            {
              // Pod discovery (see prometheusConfig): the node's pods, listed with this pod's service account.
              name: "discovery",
              image: runtimeImage,
              imagePullPolicy: "Never",
              args: ["/sd/prometheus-sd.mjs"],
              env: [
                { name: "SCRAPE_NODE", value: REAL_NODE_NAME },
                { name: "SD_PORT", value: String(SD_PORT) },
              ],
              resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "96Mi" } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
              },
              volumeMounts: [{ name: "discovery", mountPath: "/sd", readOnly: true }],
            },
          ],
          volumes: [
            { name: "config", configMap: { name: "prometheus" } },
            { name: "discovery", configMap: { name: "prometheus-discovery" } },
            { name: "data", emptyDir: { sizeLimit: "1Gi" } },
          ],
        },
      },
    },
  };
}

/** Everything of the embedded cluster's Prometheus, in apply order. */
export function prometheusObjects(image: string, runtimeImage: string, configHash: string): KubeObject[] {
  return [
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: OBSERVABILITY_NAMESPACE,
        labels: {
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/enforce-version": "latest",
        },
      },
    },
    ...access(),
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "prometheus", namespace: OBSERVABILITY_NAMESPACE, labels },
      data: { "prometheus.yml": prometheusConfig() },
    },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "prometheus-discovery", namespace: OBSERVABILITY_NAMESPACE, labels },
      data: { "prometheus-sd.mjs": readFileSync(SD_SCRIPT, "utf8") },
    },
    deployment(image, runtimeImage, configHash),
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "prometheus", namespace: OBSERVABILITY_NAMESPACE, labels },
      spec: { selector: labels, ports: [{ name: "http", port: PROMETHEUS_PORT, targetPort: "http" }] },
    },
  ];
}
