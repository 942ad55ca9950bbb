/**
 * What a cluster with a real node offers its workloads beyond the control plane, applied by `imctl cluster up
 * --nodes real` (server-side apply, idempotent):
 * - the `kubernetes` Service's endpoint at the node's address, so in-cluster clients (Traefik) reach the API server;
 * - the Gateway API CRDs, standard channel, from the sigs.k8s.io/gateway-api module (the release's own files);
 * - Traefik as the cluster's Gateway API implementation: GatewayClass `im-gateway` (controller
 *   traefik.io/gateway-controller), a Deployment on the real node under the `restricted` Pod Security level, and a
 *   NodePort Service (INGRESS_NODE_PORT) that the machine reaches on a loopback port of its own;
 * - Prometheus in `im-observability` (observability.ts), which imctl reaches through the API server's service proxy.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { waitFor } from "../../lib/wait.ts";
import { DEFAULT_GATEWAY_CLASS } from "../../../../infra/lib/spec-cluster.ts";
import { prometheusConfig, prometheusObjects, SD_SCRIPT } from "./observability.ts";
import { INGRESS_NODE_PORT, REAL_NODE_IP, REAL_NODE_LABEL, REAL_NODE_LABEL_VALUE } from "./config.ts";

export const TRAFFIC_NAMESPACE = "im-traffic";
export const TRAEFIK_CONTROLLER = "traefik.io/gateway-controller";
/** The port Traefik's `web` entry point listens on: the Gateway's listener port (Traefik matches them). */
export const TRAEFIK_WEB_PORT = 80;
const TRAEFIK_PING_PORT = 9000;
const TRAEFIK_UID = 65532;

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

/** The REST path of one object (only the kinds applied here). */
export function objectPath(o: KubeObject): string {
  const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : ["", o.apiVersion];
  const plural: Record<string, string> = {
    Namespace: "namespaces",
    ServiceAccount: "serviceaccounts",
    Service: "services",
    Endpoints: "endpoints",
    EndpointSlice: "endpointslices",
    Deployment: "deployments",
    ClusterRole: "clusterroles",
    ClusterRoleBinding: "clusterrolebindings",
    CustomResourceDefinition: "customresourcedefinitions",
    GatewayClass: "gatewayclasses",
    ConfigMap: "configmaps",
  };
  const res = plural[o.kind];
  if (!res) throw new Error(`no REST path known for kind ${o.kind}`);
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const ns = o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : "";
  return `${base}${ns}/${res}/${o.metadata.name}`;
}

export interface ApiTarget {
  server: string;
  ca: string;
  token: string;
}

function request(t: ApiTarget, method: string, path: string, body?: string, contentType?: string) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const url = new URL(`${t.server}${path}`);
    const headers: Record<string, string> = { authorization: `Bearer ${t.token}`, accept: "application/json" };
    if (contentType) headers["content-type"] = contentType;
    const req = https.request(url, { method, ca: t.ca, headers, timeout: 15_000 }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer in 15 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Server-side apply of raw JSON (client-node's typed serializer would drop CRD schema fields it knows only by their
 * TypeScript names, such as x-kubernetes-preserve-unknown-fields).
 */
export async function apply(t: ApiTarget, o: KubeObject): Promise<void> {
  const r = await request(
    t,
    "PATCH",
    `${objectPath(o)}?fieldManager=imctl-cluster&force=true`,
    JSON.stringify(o),
    "application/apply-patch+yaml",
  );
  if (r.status >= 300) throw new Error(`apply ${o.kind} ${o.metadata.name}: ${r.status} ${r.text.slice(0, 200)}`);
}

/** The `kubernetes` Service's endpoint: the API server as the node reaches it (its forwarder, at the node's address). */
export function apiServerEndpoints(apiPort: number): KubeObject[] {
  return [
    {
      apiVersion: "v1",
      kind: "Endpoints",
      metadata: { name: "kubernetes", namespace: "default" },
      subsets: [{ addresses: [{ ip: REAL_NODE_IP }], ports: [{ name: "https", port: apiPort, protocol: "TCP" }] }],
    },
  ];
}

/** The Gateway API CRDs of the standard channel, from the module's config/crd/standard. */
export function gatewayApiCrds(dir: string): KubeObject[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => d.toJS() as KubeObject))
    .filter((o) => o?.kind === "CustomResourceDefinition");
}

const labels = { "app.kubernetes.io/name": "traefik", "app.kubernetes.io/part-of": "imctl-embedded-cluster" };

/** Traefik's identity and what it may read and write (Traefik's documented RBAC for its Gateway API provider). */
function traefikAccess(): KubeObject[] {
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "traefik", namespace: TRAFFIC_NAMESPACE, labels } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "imctl:traefik-gateway", labels },
      rules: [
        { apiGroups: [""], resources: ["namespaces"], verbs: ["list", "watch"] },
        { apiGroups: [""], resources: ["services", "secrets", "configmaps"], verbs: ["get", "list", "watch"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
        {
          apiGroups: ["gateway.networking.k8s.io"],
          resources: [
            "gatewayclasses",
            "gateways",
            "httproutes",
            "grpcroutes",
            "tcproutes",
            "tlsroutes",
            "referencegrants",
            "backendtlspolicies",
          ],
          verbs: ["get", "list", "watch"],
        },
        {
          apiGroups: ["gateway.networking.k8s.io"],
          resources: [
            "gatewayclasses/status",
            "gateways/status",
            "httproutes/status",
            "grpcroutes/status",
            "backendtlspolicies/status",
          ],
          verbs: ["update"],
        },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "imctl:traefik-gateway", labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "imctl:traefik-gateway" },
      subjects: [{ kind: "ServiceAccount", name: "traefik", namespace: TRAFFIC_NAMESPACE }],
    },
  ];
}

/** Traefik's Deployment on the real node, under the restricted Pod Security level. */
function traefikDeployment(image: string): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "traefik", namespace: TRAFFIC_NAMESPACE, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: "traefik",
          nodeSelector: { [REAL_NODE_LABEL]: REAL_NODE_LABEL_VALUE },
          terminationGracePeriodSeconds: 30,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: TRAEFIK_UID,
            runAsGroup: TRAEFIK_UID,
            seccompProfile: { type: "RuntimeDefault" },
            // Port 80 without a capability: a namespaced (safe) sysctl of the pod's own network namespace.
            sysctls: [{ name: "net.ipv4.ip_unprivileged_port_start", value: "0" }],
          },
          containers: [
            {
              name: "traefik",
              image,
              imagePullPolicy: "Never",
              args: [
                `--entryPoints.web.address=:${TRAEFIK_WEB_PORT}`,
                // WebSocket sessions live for hours: no read or write deadline on the entry point.
                "--entryPoints.web.transport.respondingTimeouts.readTimeout=0s",
                "--entryPoints.web.transport.respondingTimeouts.writeTimeout=0s",
                "--entryPoints.web.transport.respondingTimeouts.idleTimeout=180s",
                `--entryPoints.traefik.address=:${TRAEFIK_PING_PORT}`,
                "--ping=true",
                "--ping.entryPoint=traefik",
                "--metrics.prometheus=true",
                "--metrics.prometheus.entryPoint=traefik",
                "--providers.kubernetesgateway=true",
                `--providers.kubernetesgateway.statusaddress.ip=127.0.0.1`,
                "--global.checkNewVersion=false",
                "--global.sendAnonymousUsage=false",
                "--log.level=INFO",
              ],
              ports: [
                { name: "web", containerPort: TRAEFIK_WEB_PORT },
                { name: "traefik", containerPort: TRAEFIK_PING_PORT },
              ],
              readinessProbe: { httpGet: { path: "/ping", port: TRAEFIK_PING_PORT }, periodSeconds: 2 },
              livenessProbe: { httpGet: { path: "/ping", port: TRAEFIK_PING_PORT }, periodSeconds: 10 },
              resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
              },
            },
          ],
        },
      },
    },
  };
}

/** Traefik, the cluster's Gateway API implementation (see the file's comment). */
export function traefikObjects(image: string): KubeObject[] {
  return [
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: TRAFFIC_NAMESPACE,
        labels: {
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/enforce-version": "latest",
        },
      },
    },
    ...traefikAccess(),
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: DEFAULT_GATEWAY_CLASS, labels },
      spec: { controllerName: TRAEFIK_CONTROLLER },
    },
    traefikDeployment(image),
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "traefik", namespace: TRAFFIC_NAMESPACE, labels },
      spec: {
        type: "NodePort",
        selector: labels,
        ports: [{ name: "web", port: TRAEFIK_WEB_PORT, targetPort: "web", nodePort: INGRESS_NODE_PORT }],
      },
    },
  ];
}

/** Applies the add-ons and waits for the CRDs to be served (the GatewayClass needs them). */
export async function installAddons(
  t: ApiTarget,
  o: { apiPort: number; crdDir: string; traefikImage: string; prometheusImage: string; runtimeImage: string },
): Promise<void> {
  for (const obj of apiServerEndpoints(o.apiPort)) await apply(t, obj);
  for (const crd of gatewayApiCrds(o.crdDir)) await apply(t, crd);
  await waitFor(
    "the Gateway API CRDs to be served",
    async () =>
      (await request(t, "GET", "/apis/gateway.networking.k8s.io/v1/gatewayclasses")).status === 200 ? true : undefined,
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  for (const obj of traefikObjects(o.traefikImage)) await apply(t, obj);
  const configHash = createHash("sha256")
    .update(prometheusConfig())
    .update(readFileSync(SD_SCRIPT))
    .digest("hex")
    .slice(0, 12);
  for (const obj of prometheusObjects(o.prometheusImage, o.runtimeImage, configHash)) await apply(t, obj);
}
