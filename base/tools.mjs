// The tool registry: every binary the local target and the tests call, where it lands under the git-ignored .tools/,
// and which profile needs it. Plain Node with no dependencies: the installer reads it before node_modules exists.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./root.mjs";

/** Where tools land; IMCTL_TOOLS_DIR overrides it (tests use that to simulate a machine without tools). */
export function toolsDir() {
  return process.env.IMCTL_TOOLS_DIR ?? join(REPO_ROOT, ".tools");
}

/**
 * Who needs a tool: "local" tools are what the local target runs on (installed by `npm start`); "test" tools only
 * some tests need (installed by `npm test`, `imctl tools install --all`, or on first use by ensureTools).
 * @typedef {"local" | "test"} Need
 */

/** k6 is built from source by the Go toolchain; this is the pinned module version. */
export const K6_VERSION = "v1.8.1";

/**
 * The Kubernetes release tools/kube-apiserver's go.mod pins (k8s.io/kubernetes, staging modules at v0.31.4); the
 * installer stamps it into the three binaries built there, which otherwise report v0.0.0-master.
 */
export const KUBERNETES_VERSION = "v1.31.4";

/** kwok (simulated nodes and pods for the embedded cluster), installed with `go install` at this version. */
export const KWOK_VERSION = "v0.8.0";

/** Traefik, the Gateway API implementation of the real node (tools/traefik pins it). */
export const TRAEFIK_VERSION = "v3.6.12";

/** The Gateway API release whose standard-channel CRDs the real node's cluster installs (Traefik 3.6 supports it). */
export const GATEWAY_API_VERSION = "v1.4.0";

/** CoreDNS (the real node's cluster DNS), installed with `go install` at this version (its module has no replace). */
export const COREDNS_VERSION = "v1.14.7";

/** The Pulumi CLI tools/pulumi's go.mod pins; stamped into the binary, as the Automation API refuses one without. */
export const PULUMI_VERSION = "v3.248.0";

/**
 * The version the kubernetes provider built from tools/pulumi-kubernetes reports: the @pulumi/kubernetes SDK's, which
 * asks the engine for exactly this plugin version (the module itself is only served as a pseudo-version).
 */
export const PULUMI_KUBERNETES_VERSION = "4.34.2";

/**
 * @typedef {{ name: string, need: Need, source: "debian" | "go" | "maven", package: string, systemPath?: string,
 *             versionArgs?: string[], purpose: string }} Tool
 */

/** @type {Tool[]} Every binary the local target and the tests call, by the name it has under .tools/bin. */
export const TOOLS = [
  {
    name: "redis-server",
    need: "local",
    source: "debian",
    package: "redis-server",
    systemPath: "/usr/bin/redis-server",
    versionArgs: ["--version"],
    purpose: "Redis Cluster nodes",
  },
  {
    name: "redis-cli",
    need: "local",
    source: "debian",
    package: "redis-tools",
    systemPath: "/usr/bin/redis-cli",
    versionArgs: ["--version"],
    purpose: "creates the Redis Cluster",
  },
  {
    name: "mariadbd",
    need: "local",
    source: "debian",
    package: "mariadb-server",
    systemPath: "/usr/sbin/mariadbd",
    versionArgs: ["--version"],
    purpose: "MySQL-protocol stand-in for TiDB",
  },
  {
    name: "mariadb-install-db",
    need: "local",
    source: "debian",
    package: "mariadb-server",
    systemPath: "/usr/bin/mariadb-install-db",
    purpose: "initialises the database directory",
  },
  {
    name: "mariadb-dump",
    need: "local",
    source: "debian",
    package: "mariadb-client",
    systemPath: "/usr/bin/mariadb-dump",
    versionArgs: ["--version"],
    purpose: "database backups",
  },
  {
    name: "mariadb",
    need: "local",
    source: "debian",
    package: "mariadb-client",
    systemPath: "/usr/bin/mariadb",
    versionArgs: ["--version"],
    purpose: "restores database backups (imctl drill restore)",
  },
  {
    name: "nft",
    need: "local",
    source: "debian",
    package: "nftables",
    systemPath: "/usr/sbin/nft",
    versionArgs: ["--version"],
    purpose: "network partitions on loopback ports (imctl drill run partition)",
  },
  {
    name: "nginx",
    need: "local",
    source: "debian",
    package: "nginx",
    systemPath: "/usr/sbin/nginx",
    versionArgs: ["-v"],
    purpose: "gateway load balancer",
  },
  {
    name: "prometheus",
    need: "local",
    source: "debian",
    package: "prometheus",
    systemPath: "/usr/bin/prometheus",
    versionArgs: ["--version"],
    purpose: "metrics and alert rules",
  },
  {
    name: "promtool",
    need: "local",
    source: "debian",
    package: "prometheus",
    systemPath: "/usr/bin/promtool",
    versionArgs: ["--version"],
    purpose: "checks and unit-tests alert rules",
  },
  {
    name: "node-exporter",
    need: "local",
    source: "debian",
    package: "prometheus-node-exporter",
    systemPath: "/usr/bin/prometheus-node-exporter",
    versionArgs: ["--version"],
    purpose: "host metrics",
  },
  {
    name: "redis-exporter",
    need: "local",
    source: "debian",
    package: "prometheus-redis-exporter",
    systemPath: "/usr/bin/prometheus-redis-exporter",
    versionArgs: ["-version"],
    purpose: "Redis metrics",
  },
  {
    name: "mysqld-exporter",
    need: "local",
    source: "debian",
    package: "prometheus-mysqld-exporter",
    systemPath: "/usr/bin/prometheus-mysqld-exporter",
    versionArgs: ["--version"],
    purpose: "database metrics",
  },
  {
    name: "nginx-exporter",
    need: "local",
    source: "debian",
    package: "prometheus-nginx-exporter",
    systemPath: "/usr/bin/prometheus-nginx-exporter",
    versionArgs: ["-version"],
    purpose: "nginx metrics",
  },
  {
    name: "java",
    need: "local",
    source: "debian",
    package: "openjdk-17-jre-headless",
    systemPath: "/usr/bin/java",
    versionArgs: ["-version"],
    purpose: "runs the Kafka brokers",
  },
  {
    name: "k6",
    need: "local",
    source: "go",
    package: `go.k6.io/k6@${K6_VERSION}`,
    versionArgs: ["version"],
    purpose: "load tests",
  },
  {
    name: "etcd",
    need: "test",
    source: "debian",
    package: "etcd-server",
    systemPath: "/usr/bin/etcd",
    versionArgs: ["--version"],
    purpose: "the store of the Kubernetes API server in the rollout's kubernetes-target test",
  },
  {
    name: "kube-apiserver",
    need: "test",
    source: "go",
    package: "tools/kube-apiserver",
    versionArgs: ["--version"],
    purpose: "a real Kubernetes API server for the rollout's kubernetes-target test and the embedded cluster",
  },
  {
    name: "kube-controller-manager",
    need: "test",
    source: "go",
    package: "tools/kube-apiserver/kube-controller-manager",
    versionArgs: ["--version"],
    purpose: "the embedded cluster's controllers (Deployments get pods, deleted namespaces empty)",
  },
  {
    name: "kube-scheduler",
    need: "test",
    source: "go",
    package: "tools/kube-apiserver/kube-scheduler",
    versionArgs: ["--version"],
    purpose: "binds the embedded cluster's pods to its simulated nodes",
  },
  {
    name: "kubelet",
    need: "test",
    source: "go",
    package: "tools/kube-apiserver/kubelet",
    versionArgs: ["--version"],
    purpose: "the embedded cluster's real node (imctl cluster up --nodes real): runs pods through containerd",
  },
  {
    name: "kube-proxy",
    need: "test",
    source: "go",
    package: "tools/kube-apiserver/kube-proxy",
    versionArgs: ["--version"],
    purpose: "the real node's Service addresses (iptables in the node's network namespace)",
  },
  {
    name: "coredns",
    need: "test",
    source: "go",
    package: `github.com/coredns/coredns@${COREDNS_VERSION}`,
    versionArgs: ["-version"],
    purpose: "cluster DNS (<service>.<namespace>.svc) for the real node's pods",
  },
  {
    name: "traefik",
    need: "test",
    source: "go",
    package: "tools/traefik",
    versionArgs: ["version"],
    purpose: "the embedded cluster's Gateway API implementation (runs as a pod on the real node)",
  },
  {
    name: "gateway-api-crds",
    need: "test",
    source: "go",
    package: `sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}`,
    purpose: "the Gateway API CRDs (standard channel) the real node's cluster installs, from the release's module",
  },
  {
    name: "pause",
    need: "test",
    source: "go",
    package: "tools/pause",
    purpose: "the real node's pod sandbox image (a static binary; registry.k8s.io cannot be reached here)",
  },
  {
    name: "containerd",
    need: "test",
    source: "debian",
    package: "containerd",
    systemPath: "/usr/bin/containerd",
    versionArgs: ["--version"],
    purpose: "the real node's container runtime (CRI)",
  },
  {
    name: "containerd-shim-runc-v2",
    need: "test",
    source: "debian",
    package: "containerd",
    systemPath: "/usr/bin/containerd-shim-runc-v2",
    versionArgs: ["-v"],
    purpose: "the shim between containerd and runc",
  },
  {
    name: "ctr",
    need: "test",
    source: "debian",
    package: "containerd",
    systemPath: "/usr/bin/ctr",
    versionArgs: ["--version"],
    purpose: "imports the images built here into the real node",
  },
  {
    name: "runc",
    need: "test",
    source: "debian",
    package: "runc",
    systemPath: "/usr/sbin/runc",
    versionArgs: ["--version"],
    purpose: "starts the real node's containers",
  },
  {
    name: "cni-bridge",
    need: "test",
    source: "debian",
    package: "containernetworking-plugins",
    systemPath: "/usr/lib/cni/bridge",
    purpose: "the real node's pod network (a bridge inside the node's network namespace)",
  },
  {
    name: "cni-host-local",
    need: "test",
    source: "debian",
    package: "containernetworking-plugins",
    systemPath: "/usr/lib/cni/host-local",
    purpose: "pod addresses on the real node",
  },
  {
    name: "cni-loopback",
    need: "test",
    source: "debian",
    package: "containernetworking-plugins",
    systemPath: "/usr/lib/cni/loopback",
    purpose: "each pod's loopback interface",
  },
  {
    name: "kwok",
    need: "test",
    source: "go",
    package: `sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}`,
    versionArgs: ["--version"],
    purpose: "simulated nodes and pods of the embedded cluster",
  },
  {
    name: "pulumi",
    need: "test",
    source: "go",
    package: "tools/pulumi",
    versionArgs: ["version"],
    purpose: "the Pulumi engine the Automation API runs (imctl preview/up/destroy on the embedded cluster)",
  },
  {
    name: "pulumi-resource-kubernetes",
    need: "test",
    source: "go",
    package: "tools/pulumi-kubernetes",
    purpose: `the Pulumi kubernetes provider ${PULUMI_KUBERNETES_VERSION}, an ambient plugin found on PATH`,
  },
  {
    name: "kafka",
    need: "local",
    source: "maven",
    package: "tools/kafka/pom.xml",
    purpose: "Kafka brokers (KRaft) and the JMX exporter agent",
  },
];

/** Kafka's jars land here, resolved from Maven Central by tools/kafka/pom.xml. */
export function kafkaLibsDir() {
  return join(toolsDir(), "kafka", "libs");
}

/** The path imctl runs a tool from. */
export function toolPath(/** @type {string} */ name) {
  if (name === "kafka") return kafkaLibsDir();
  if (name === "gateway-api-crds") return join(toolsDir(), "gateway-api", GATEWAY_API_VERSION);
  return join(toolsDir(), "bin", name);
}

/**
 * The tools an install profile covers: "local" those the local target runs on, "all" every tool.
 * @param {"local" | "all"} profile
 * @returns {Tool[]}
 */
export function toolsFor(profile) {
  return profile === "all" ? TOOLS : TOOLS.filter((t) => t.need === "local");
}

/** Version string of one installed tool, or null when it is not installed. @param {Tool} t */
export function toolVersion(t) {
  if (t.name === "kafka") {
    const libs = kafkaLibsDir();
    if (!existsSync(libs)) return null;
    const pom = readFileSync(join(REPO_ROOT, "tools", "kafka", "pom.xml"), "utf8");
    return pom.match(/<kafka\.version>([^<]+)</)?.[1] ?? "unknown";
  }
  if (t.name === "gateway-api-crds") return existsSync(toolPath(t.name)) ? GATEWAY_API_VERSION.slice(1) : null;
  const bin = toolPath(t.name);
  if (!existsSync(bin)) return null;
  if (!t.versionArgs) return "installed";
  // A tool that hangs (waiting on the network, say) must not hang `imctl tools status`.
  const r = spawnSync(bin, t.versionArgs, { encoding: "utf8", timeout: 10_000 });
  const text = `${String(r.stdout ?? "")}\n${String(r.stderr ?? "")}`;
  const m = text.match(/v?(\d+\.\d+(?:\.\d+)?(?:[-+~][\w.~+-]+)?)/);
  return m?.[1] ?? "unknown";
}
