/**
 * The embedded cluster's real node, as files: the containerd configuration, the kubelet's configuration, the CNI
 * network (a bridge for the pods, then the host-loopback rules) and the script that is PID 1 of the node. Pure: no
 * process is started and nothing is written here (node.ts does that).
 *
 * The node lives in namespaces of its own, so the machine is left as it was:
 * - a network namespace (`ip netns`), holding the pods' bridge `cni0` with the node's address (the pods' gateway);
 * - a PID namespace whose PID 1 is the init script: when it ends, the kernel ends every process of the node
 *   (containerd, its shims, the kubelet, every container), so nothing can be left running;
 * - a private mount namespace in which containerd's and the kubelet's state directories are bind-mounted from the
 *   cluster's directory, /run/containerd is a tmpfs, and the three kernel tunables the kubelet would set machine-wide
 *   (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops) are files of the node's own.
 */
import { join } from "node:path";

export const REAL_NODE_NAME = "im-node-real";
/** The label that selects the real node (stacks put it in cluster.nodeSelector to run their pods for real). */
export const REAL_NODE_LABEL = "imctl.im-platform.io/node";
export const REAL_NODE_LABEL_VALUE = "real";
/** The real node's zone: one of the simulated zones, so zone-spread stacks count it. */
export const REAL_NODE_ZONE = "zone-a";

/** The real node's pods: a /24 of the cluster's pod range (the simulated nodes' pods use the lower half). */
export const REAL_POD_SUBNET = "10.244.128.0/24";
/** The node's own address: the bridge's, which is every pod's gateway. */
export const REAL_NODE_IP = "10.244.128.1";
export const BRIDGE_NAME = "cni0";
/**
 * The NodePort of the cluster's traffic layer (the Gateway API implementation's Service); the machine reaches it on
 * a loopback port of its own (`imctl cluster status` shows it).
 */
export const INGRESS_NODE_PORT = 30080;

/** Paths as the node sees them inside its mount namespace (bind-mounted from the cluster's directory). */
export const IN_NODE = {
  containerdSock: "/run/containerd/containerd.sock",
  containerdRoot: "/var/lib/containerd",
  kubeletRoot: "/var/lib/kubelet",
  podLogs: "/var/log/pods",
  cniConf: "/etc/cni/net.d",
  cniBin: "/opt/cni/bin",
} as const;

/** The kernel tunables the kubelet sets when they differ, and the value it wants (pkg/kubelet/cm). */
export const KUBELET_SYSCTLS: ReadonlyArray<{ path: string; value: number }> = [
  { path: "vm/overcommit_memory", value: 1 },
  { path: "vm/panic_on_oom", value: 0 },
  { path: "kernel/panic", value: 10 },
  { path: "kernel/panic_on_oops", value: 1 },
  { path: "kernel/keys/root_maxkeys", value: 1_000_000 },
  { path: "kernel/keys/root_maxbytes", value: 25_000_000 },
];

export interface NodeLayout {
  /** `<cluster dir>/node`. */
  dir: string;
  /** The network namespace's name (`ip netns`), unique to the cluster's directory. */
  netns: string;
  /** Directory of the unix sockets the forwarders meet at. */
  sockets: string;
  containerdConfig: string;
  kubeletConfig: string;
  kubeletKubeconfig: string;
  init: string;
  kubeProxyConfig: string;
  kubeProxyKubeconfig: string;
  corefile: string;
  corednsKubeconfig: string;
  images: string;
  /** Bind-mounted over the node's view of /var/lib/containerd, /var/lib/kubelet, ... */
  fs: string;
  /** The node's copies of the kernel tunables. */
  sysctls: string;
  logs: string;
  /** The cgroup (in every v1 hierarchy) under which the kubelet puts every pod. */
  cgroupRoot: string;
}

export function nodeLayout(clusterDir: string, id: string): NodeLayout {
  const dir = join(clusterDir, "node");
  return {
    dir,
    netns: `imctl-${id}`,
    sockets: join(dir, "sockets"),
    containerdConfig: join(dir, "containerd.toml"),
    kubeletConfig: join(dir, "kubelet.yaml"),
    kubeletKubeconfig: join(dir, "kubelet.kubeconfig"),
    init: join(dir, "init.sh"),
    kubeProxyConfig: join(dir, "kube-proxy.yaml"),
    kubeProxyKubeconfig: join(dir, "kube-proxy.kubeconfig"),
    corefile: join(dir, "Corefile"),
    corednsKubeconfig: join(dir, "coredns.kubeconfig"),
    images: join(dir, "images"),
    fs: join(dir, "fs"),
    sysctls: join(dir, "sysctl"),
    logs: join(clusterDir, "logs"),
    cgroupRoot: `/imctl-${id}`,
  };
}

export function containerdConfig(pauseImage: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    "# Written by imctl cluster up: containerd of the embedded cluster's real node (paths as the node sees them).",
    "version = 2",
    `root = "${IN_NODE.containerdRoot}"`,
    'state = "/run/containerd"',
    "disabled_plugins = [",
    '  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs",',
    '  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp",',
    "]",
    "[grpc]",
    `  address = "${IN_NODE.containerdSock}"`,
    "[metrics]",
    '  address = ""',
    `[${cri}]`,
    // The pause image is built here (no registry can be reached); the kubelet never pulls (imagePullPolicy Never).
    `  sandbox_image = "${pauseImage}"`,
    // root here lacks CAP_SYS_RESOURCE: without this every sandbox fails ("can't get final child's PID from pipe").
    "  restrict_oom_score_adj = true",
    "  disable_apparmor = true",
    "  enable_selinux = false",
    `  [${cri}.containerd]`,
    '    snapshotter = "overlayfs"',
    '    default_runtime_name = "runc"',
    `    [${cri}.containerd.runtimes.runc]`,
    '      runtime_type = "io.containerd.runc.v2"',
    `      [${cri}.containerd.runtimes.runc.options]`,
    // cgroup v1 (hybrid) and PID 1 is not systemd: the cgroupfs driver, as the kubelet's.
    "        SystemdCgroup = false",
    `  [${cri}.cni]`,
    `    bin_dir = "${IN_NODE.cniBin}"`,
    `    conf_dir = "${IN_NODE.cniConf}"`,
    "",
  ].join("\n");
}

/** The pods' network: a bridge with the node's address as gateway, then the host-loopback rules. */
export function cniConfig(hostPorts: readonly number[]): string {
  return `${JSON.stringify(
    {
      cniVersion: "1.0.0",
      name: "imctl-pods",
      plugins: [
        {
          type: "bridge",
          bridge: BRIDGE_NAME,
          isGateway: true,
          // The pods' default route (Service addresses, 10.96.0.0/16, are off-link) leads to the node.
          isDefaultGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: "host-local", ranges: [[{ subnet: REAL_POD_SUBNET, gateway: REAL_NODE_IP }]] },
        },
        { type: "imctl-host-loopback", gateway: REAL_NODE_IP, ports: [...hostPorts] },
      ],
    },
    null,
    2,
  )}\n`;
}

export interface KubeletOptions {
  cgroupRoot: string;
  caFile: string;
  /** Where the kubelet's read-only health endpoint listens in the node's namespace. */
  healthzPort: number;
  clusterDns: string;
}

/** KubeletConfiguration v1beta1 (JSON, which the kubelet's YAML reader takes). */
export function kubeletConfig(o: KubeletOptions): string {
  return `${JSON.stringify(
    {
      apiVersion: "kubelet.config.k8s.io/v1beta1",
      kind: "KubeletConfiguration",
      address: REAL_NODE_IP,
      port: 10250,
      readOnlyPort: 0,
      healthzBindAddress: "127.0.0.1",
      healthzPort: o.healthzPort,
      authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: { clientCAFile: o.caFile } },
      // Its API listens only inside the node's namespace, which nothing but the node reaches.
      authorization: { mode: "AlwaysAllow" },
      containerRuntimeEndpoint: `unix://${IN_NODE.containerdSock}`,
      cgroupDriver: "cgroupfs",
      cgroupRoot: o.cgroupRoot,
      cgroupsPerQOS: true,
      failSwapOn: false,
      protectKernelDefaults: false,
      // Images are imported, never pulled, so none may be collected.
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      serializeImagePulls: false,
      evictionHard: { "memory.available": "200Mi", "nodefs.available": "2%", "imagefs.available": "2%" },
      maxPods: 60,
      podPidsLimit: 4096,
      clusterDomain: "cluster.local",
      clusterDNS: [o.clusterDns],
      resolvConf: "/etc/resolv.conf",
      rotateCertificates: false,
      serverTLSBootstrap: false,
      registerNode: true,
      nodeStatusReportFrequency: "10s",
      nodeStatusUpdateFrequency: "5s",
      syncFrequency: "10s",
      fileCheckFrequency: "0s",
      staticPodPath: "",
      logging: { format: "text" },
    },
    null,
    2,
  )}\n`;
}

/** The cluster's DNS answers at the node's address (CoreDNS runs on the node, as a node-local DNS would). */
export const CLUSTER_DNS_IP = REAL_NODE_IP;

/** KubeProxyConfiguration: iptables inside the node's namespace; nothing machine-wide (conntrack sizes left alone). */
export function kubeProxyConfig(kubeconfig: string, clusterCidr: string): string {
  return `${JSON.stringify(
    {
      apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
      kind: "KubeProxyConfiguration",
      clientConnection: { kubeconfig },
      hostnameOverride: REAL_NODE_NAME,
      mode: "iptables",
      clusterCIDR: clusterCidr,
      // Pod -> Service -> pod on the same bridge: the reply must come back through the node to be un-NATed, and
      // the bridge does not pass through iptables (no br_netfilter here), so every Service connection is SNATed.
      iptables: { masqueradeAll: true, syncPeriod: "10s", minSyncPeriod: "0s" },
      // 0: leave the kernel's conntrack table sizes and timeouts as they are (they are machine-wide).
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
      metricsBindAddress: "127.0.0.1:10249",
      healthzBindAddress: "127.0.0.1:10256",
      nodePortAddresses: [`${REAL_NODE_IP}/32`],
    },
    null,
    2,
  )}\n`;
}

/** CoreDNS: the cluster's names from the API server, on the node's address; nothing is forwarded outside. */
export function corefile(kubeconfig: string, context: string): string {
  return [
    ".:53 {",
    `    bind ${CLUSTER_DNS_IP}`,
    "    errors",
    "    health 127.0.0.1:18080",
    "    ready 127.0.0.1:18181",
    "    kubernetes cluster.local in-addr.arpa ip6.arpa {",
    `        kubeconfig ${kubeconfig} ${context}`,
    "        pods insecure",
    "        fallthrough in-addr.arpa ip6.arpa",
    "        ttl 5",
    "    }",
    "    cache 5",
    "}",
    "",
  ].join("\n");
}

export interface InitScriptOptions {
  layout: NodeLayout;
  /** Image archives `ctr images import` loads before the kubelet starts (the pause image first). */
  imageArchives: string[];
  kubelet: string;
  kubeletArgs: string[];
  containerd: string;
  ctr: string;
  node: string;
  forwardScript: string;
  kubeProxy: string;
  kubeProxyConfig: string;
  coredns: string;
  corefile: string;
  /** The forwarder's routes (forward.mjs): `reach:<port>` and `publish:<port>:<address>:<port>`. */
  routes: readonly string[];
}

const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

/**
 * PID 1 of the node: sets up the mount namespace, starts containerd, imports the images, starts the forwarder and
 * the kubelet, and ends (ending the whole node) as soon as one of them exits.
 */
export function initScript(o: InitScriptOptions): string {
  const l = o.layout;
  const mounts = Object.values(IN_NODE)
    .filter((p) => !p.endsWith(".sock"))
    .map((p) => `mkdir -p ${q(join(l.fs, p))} ${q(p)} && mount --bind ${q(join(l.fs, p))} ${q(p)}`);
  const sysctls = KUBELET_SYSCTLS.map(
    (s) =>
      `echo ${s.value} > ${q(join(l.sysctls, s.path.replaceAll("/", ".")))} && ` +
      `mount --bind ${q(join(l.sysctls, s.path.replaceAll("/", ".")))} /proc/sys/${s.path}`,
  );
  const ctr = `${q(o.ctr)} --address ${IN_NODE.containerdSock} --namespace k8s.io`;
  return [
    "#!/bin/bash",
    "# Written by imctl cluster up: PID 1 of the embedded cluster's real node. Ending it ends the whole node.",
    "set -euo pipefail",
    `exec >> ${q(join(l.logs, "node.log"))} 2>&1`,
    'say() { echo "$(date -u +%FT%TZ) $*"; }',
    "mount --make-rprivate /",
    "mkdir -p /run/containerd /run/netns",
    "mount -t tmpfs -o mode=0755 tmpfs /run/containerd",
    // The pods' network namespaces are pinned under /run/netns: the node's own, so they go with the node.
    "mount -t tmpfs -o mode=0755 tmpfs /run/netns",
    ...mounts,
    `mkdir -p ${q(l.sysctls)}`,
    ...sysctls,
    // The kubelet puts every pod under its cgroupRoot and wants it present in each v1 hierarchy (down removes it).
    `for h in /sys/fs/cgroup/*; do [ "$h" = /sys/fs/cgroup/unified ] || mkdir -p "$h${l.cgroupRoot}"; done`,
    `cat /sys/fs/cgroup/cpuset/cpuset.cpus > /sys/fs/cgroup/cpuset${l.cgroupRoot}/cpuset.cpus`,
    `cat /sys/fs/cgroup/cpuset/cpuset.mems > /sys/fs/cgroup/cpuset${l.cgroupRoot}/cpuset.mems`,
    `ip link set lo up`,
    `say "containerd starting"`,
    `${q(o.containerd)} --config ${q(l.containerdConfig)} >> ${q(join(l.logs, "containerd.log"))} 2>&1 &`,
    `for i in $(seq 1 200); do ${ctr} version >/dev/null 2>&1 && break; sleep 0.1; done`,
    `${ctr} version >/dev/null`,
    ...o.imageArchives.map((a) => `${ctr} images import ${q(a)} >/dev/null`),
    `say "images imported: ${o.imageArchives.length}"`,
    `${q(o.node)} ${q(o.forwardScript)} node ${q(l.sockets)} ${o.routes.join(" ")} >> ${q(join(l.logs, "forward-node.log"))} 2>&1 &`,
    `${q(o.kubelet)} ${o.kubeletArgs.map(q).join(" ")} >> ${q(join(l.logs, "kubelet.log"))} 2>&1 &`,
    `${q(o.kubeProxy)} --config=${q(o.kubeProxyConfig)} >> ${q(join(l.logs, "kube-proxy.log"))} 2>&1 &`,
    `${q(o.coredns)} -conf ${q(o.corefile)} >> ${q(join(l.logs, "coredns.log"))} 2>&1 &`,
    `say "kubelet, kube-proxy and coredns started"`,
    // The first of containerd, the forwarder and the kubelet to exit ends the node (and, being PID 1, everything).
    "wait -n",
    'say "a node process exited: the node stops"',
    "exit 1",
    "",
  ].join("\n");
}
