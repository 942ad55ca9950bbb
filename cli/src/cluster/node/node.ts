/**
 * The embedded cluster's real node: containerd + runc from Debian and the kubelet built from tools/kube-apiserver,
 * in namespaces of their own (see config.ts), so its pods really run. `startRealNode` creates the network namespace
 * and the pods' bridge, writes the configuration, starts the machine's side of the forwarder and the node's PID 1,
 * and waits for the Node to be Ready; `stopRealNode` ends the PID namespace (every process of the node with it),
 * deletes the network namespace and the node's cgroups, and reports anything still there.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { portFree } from "../../../../base/ports.ts";
import { toolPath } from "../../../../base/tools.mjs";
import { UserError } from "../../errors.ts";
import { isOurs, startDetached, stopGroup } from "../../lib/process.ts";
import { waitFor } from "../../lib/wait.ts";
import { type ClusterLayout, CONTEXT_NAME, POD_CIDR } from "../layout.ts";
import type { PkiFiles } from "../pki.ts";
import {
  BRIDGE_NAME,
  CLUSTER_DNS_IP,
  cniConfig,
  corefile,
  kubeProxyConfig,
  containerdConfig,
  IN_NODE,
  INGRESS_NODE_PORT,
  initScript,
  KUBELET_SYSCTLS,
  kubeletConfig,
  nodeLayout,
  type NodeLayout,
  REAL_NODE_IP,
  REAL_NODE_LABEL,
  REAL_NODE_LABEL_VALUE,
  REAL_NODE_NAME,
  REAL_NODE_ZONE,
  REAL_POD_SUBNET,
} from "./config.ts";
import { buildPauseImage, buildServiceImages, SERVICES, type ServiceName } from "../images/build.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
export const FORWARD_SCRIPT = join(HERE, "forward.mjs");
export const CNI_PLUGIN_SCRIPT = join(HERE, "cni-host-loopback.mjs");

/** The tools the real node needs, as base/tools.mjs names them. */
export const REAL_NODE_TOOLS = [
  "containerd",
  "containerd-shim-runc-v2",
  "ctr",
  "runc",
  "cni-bridge",
  "cni-host-local",
  "cni-loopback",
  "kubelet",
  "kube-proxy",
  "coredns",
  "traefik",
  "gateway-api-crds",
  "pause",
] as const;

/** The kubelet's health port inside the node's namespace (nothing outside it can reach it). */
const KUBELET_HEALTHZ_PORT = 10248;

export type NodeKubeconfigs = (who: "kubelet" | "kube-proxy" | "coredns") => string;

export interface RealNodeState {
  netns: string;
  /** Machine loopback ports the node (and its pods, at the node's address) reach: the API server's, the data tier's. */
  hostPorts: number[];
  /** The machine's loopback port that reaches the traffic layer's NodePort (INGRESS_NODE_PORT) on the node. */
  ingressPort: number;
  pids: { init?: number; forward?: number };
}

/** Where the search for the ingress port starts (above the control plane's ports). */
const INGRESS_SEARCH_FROM = 24_180;

async function freePort(from: number): Promise<number> {
  for (let p = from; p < 32_768; p++) if (await portFree("127.0.0.1", p)) return p;
  throw new UserError(`no free port on 127.0.0.1 from ${from} for the real node's ingress: free one`);
}

/** The forwarder's routes (forward.mjs): every reached machine port, the ingress, and the API server's egress. */
export function nodeRoutes(s: RealNodeState): string[] {
  return [
    ...s.hostPorts.map((p) => `reach:${p}`),
    `publish:${s.ingressPort}:${REAL_NODE_IP}:${INGRESS_NODE_PORT}`,
    "egress",
  ];
}

export function realNodeLayout(l: ClusterLayout): NodeLayout {
  const id = createHash("sha256").update(l.dir).digest("hex").slice(0, 8);
  return nodeLayout(l.dir, id);
}

function sh(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    const why = (r.stderr || r.stdout || String(r.error ?? "")).trim().split("\n").slice(-1)[0];
    throw new Error(`${what}: ${cmd} ${args.join(" ")} failed: ${why}`);
  }
  return r.stdout;
}

const netnsExists = (name: string): boolean => existsSync(`/run/netns/${name}`);

/** The network namespace with its loopback up and the pods' bridge carrying the node's address. */
function createNetwork(n: NodeLayout): void {
  if (netnsExists(n.netns)) sh("ip", ["netns", "delete", n.netns], "remove a stale node network");
  sh("ip", ["netns", "add", n.netns], "create the node's network namespace");
  sh("ip", ["-n", n.netns, "link", "set", "lo", "up"], "node network");
  sh("ip", ["-n", n.netns, "link", "add", BRIDGE_NAME, "type", "bridge"], "node network");
  sh(
    "ip",
    ["-n", n.netns, "addr", "add", `${REAL_NODE_IP}/${REAL_POD_SUBNET.split("/")[1]}`, "dev", BRIDGE_NAME],
    "node network",
  );
  sh("ip", ["-n", n.netns, "link", "set", BRIDGE_NAME, "up"], "node network");
  // The kubelet and kube components expect a default route; it leads nowhere but the bridge.
  sh("ip", ["-n", n.netns, "route", "add", "default", "dev", BRIDGE_NAME], "node network");
}

function linkCniPlugins(n: NodeLayout): void {
  const bin = join(n.fs, IN_NODE.cniBin);
  mkdirSync(bin, { recursive: true });
  const links: Record<string, string> = {
    bridge: toolPath("cni-bridge"),
    "host-local": toolPath("cni-host-local"),
    loopback: toolPath("cni-loopback"),
    "imctl-host-loopback": CNI_PLUGIN_SCRIPT,
  };
  for (const [name, target] of Object.entries(links)) {
    rmSync(join(bin, name), { force: true });
    symlinkSync(target, join(bin, name));
  }
}

function kubeletArgs(l: ClusterLayout, n: NodeLayout): string[] {
  return [
    `--config=${n.kubeletConfig}`,
    `--kubeconfig=${n.kubeletKubeconfig}`,
    `--hostname-override=${REAL_NODE_NAME}`,
    `--node-ip=${REAL_NODE_IP}`,
    `--node-labels=topology.kubernetes.io/zone=${REAL_NODE_ZONE},${REAL_NODE_LABEL}=${REAL_NODE_LABEL_VALUE}`,
    `--root-dir=${IN_NODE.kubeletRoot}`,
    "--v=1",
    // Marks the process as this cluster's (isOurs reads the command line).
    `--cert-dir=${join(IN_NODE.kubeletRoot, "pki")}`,
    `--pod-infra-container-image=ignored`,
  ]
    .filter((a) => !a.startsWith("--pod-infra"))
    .concat(l.dir ? [] : []);
}

/** Writes every file of the node (idempotent). */
async function writeNodeFiles(
  l: ClusterLayout,
  n: NodeLayout,
  p: PkiFiles,
  kubeconfigFor: NodeKubeconfigs,
  hostPorts: number[],
  routes: string[],
): Promise<void> {
  for (const d of [n.dir, n.sockets, n.images, n.sysctls, n.logs]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const pause = await buildPauseImage(n.images);
  writeFileSync(n.containerdConfig, containerdConfig(pause.ref));
  mkdirSync(join(n.fs, IN_NODE.cniConf), { recursive: true });
  writeFileSync(join(n.fs, IN_NODE.cniConf, "10-imctl.conflist"), cniConfig(hostPorts.filter((port) => port !== 0)));
  linkCniPlugins(n);
  writeFileSync(
    n.kubeletConfig,
    kubeletConfig({
      cgroupRoot: n.cgroupRoot,
      caFile: p.caCert,
      healthzPort: KUBELET_HEALTHZ_PORT,
      clusterDns: CLUSTER_DNS_IP,
    }),
  );
  writeFileSync(n.kubeletKubeconfig, kubeconfigFor("kubelet"), { mode: 0o600 });
  writeFileSync(n.kubeProxyKubeconfig, kubeconfigFor("kube-proxy"), { mode: 0o600 });
  writeFileSync(n.corednsKubeconfig, kubeconfigFor("coredns"), { mode: 0o600 });
  writeFileSync(n.kubeProxyConfig, kubeProxyConfig(n.kubeProxyKubeconfig, POD_CIDR));
  writeFileSync(n.corefile, corefile(n.corednsKubeconfig, CONTEXT_NAME));
  writeFileSync(
    n.init,
    initScript({
      layout: n,
      imageArchives: [pause.archive, ...extraArchives(n)],
      kubelet: toolPath("kubelet"),
      kubeletArgs: kubeletArgs(l, n),
      containerd: toolPath("containerd"),
      ctr: toolPath("ctr"),
      node: process.execPath,
      forwardScript: FORWARD_SCRIPT,
      kubeProxy: toolPath("kube-proxy"),
      kubeProxyConfig: n.kubeProxyConfig,
      coredns: toolPath("coredns"),
      corefile: n.corefile,
      routes,
    }),
  );
  chmodSync(n.init, 0o700);
}

/** Archives imported earlier (`imctl cluster load`) are imported again when the node restarts. */
function extraArchives(n: NodeLayout): string[] {
  if (!existsSync(n.images)) return [];
  return readdirSync(n.images)
    .filter((f) => f.endsWith(".oci.tar") && f !== "pause.oci.tar")
    .sort()
    .map((f) => join(n.images, f));
}

/** The kernel tunables as the machine has them now (the node must leave them exactly so). */
export function machineSysctls(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of KUBELET_SYSCTLS) {
    try {
      out[s.path] = readFileSync(`/proc/sys/${s.path}`, "utf8").trim();
    } catch {
      out[s.path] = "unreadable";
    }
  }
  return out;
}

export interface StartNodeOptions {
  layout: ClusterLayout;
  pki: PkiFiles;
  /** The kubeconfig (text) of each identity of the node. */
  kubeconfigFor: NodeKubeconfigs;
  apiPort: number;
  hostPorts: number[];
  prior?: RealNodeState;
  say: (line: string) => void;
}

/** Starts the real node (or repairs it: a dead init or forwarder is started again). */
export async function startRealNode(o: StartNodeOptions): Promise<RealNodeState> {
  const l = o.layout;
  const n = realNodeLayout(l);
  const hostPorts = [...new Set([o.apiPort, ...o.hostPorts])];
  const s: RealNodeState = o.prior ?? {
    netns: n.netns,
    hostPorts,
    ingressPort: await freePort(INGRESS_SEARCH_FROM),
    pids: {},
  };
  s.hostPorts = hostPorts;
  const routes = nodeRoutes(s);
  const initAlive = s.pids.init !== undefined && isOurs(s.pids.init, l.dir);
  const forwardAlive = s.pids.forward !== undefined && isOurs(s.pids.forward, l.dir);
  if (!forwardAlive) {
    s.pids.forward = startDetached(
      {
        bin: process.execPath,
        args: [FORWARD_SCRIPT, "machine", n.sockets, ...routes],
        logFile: join(n.logs, "forward-host.log"),
      },
      l.dir,
    );
    o.say(
      `real node: forwarder started (pid ${s.pids.forward}; the node reaches machine ports ${hostPorts.join(", ")}; ` +
        `127.0.0.1:${s.ingressPort} reaches the node's port ${INGRESS_NODE_PORT})`,
    );
  }
  if (!initAlive) {
    await writeNodeFiles(l, n, o.pki, o.kubeconfigFor, hostPorts, routes);
    createNetwork(n);
    s.pids.init = startDetached(
      {
        bin: "nsenter",
        args: [
          `--net=/run/netns/${n.netns}`,
          "unshare",
          "--pid",
          "--fork",
          "--kill-child=SIGKILL",
          "--mount",
          "--propagation",
          "private",
          "--mount-proc",
          "bash",
          n.init,
        ],
        logFile: join(n.logs, "node.log"),
      },
      l.dir,
    );
    o.say(`real node: containerd and kubelet starting in their own namespaces (pid ${s.pids.init})`);
  }
  return s;
}

/** The cgroup directories the node's pods left (after its processes are gone), deepest first. */
function nodeCgroups(n: NodeLayout): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) walk(join(dir, e));
    found.push(dir);
  };
  for (const hierarchy of readdirSync("/sys/fs/cgroup")) walk(join("/sys/fs/cgroup", hierarchy, n.cgroupRoot));
  return found;
}

export interface StopNodeResult {
  outcome: "stopped" | "killed" | "not running";
  /** Whatever of the node is still there after the stop (empty when it left nothing). */
  leftovers: string[];
}

/** Ends the node: its PID namespace (every process in it), the forwarder, the network namespace, its cgroups. */
export async function stopRealNode(l: ClusterLayout, s: RealNodeState | undefined): Promise<StopNodeResult> {
  const n = realNodeLayout(l);
  let outcome: StopNodeResult["outcome"] = "not running";
  if (s?.pids.init !== undefined && isOurs(s.pids.init, l.dir))
    outcome = await stopGroup(s.pids.init, "SIGTERM", 5_000);
  if (s?.pids.forward !== undefined && isOurs(s.pids.forward, l.dir)) await stopGroup(s.pids.forward, "SIGTERM", 3_000);
  if (netnsExists(n.netns)) spawnSync("ip", ["netns", "delete", n.netns]);
  // A pod's cgroup may take a moment to empty after its last process is killed.
  const leftovers: string[] = [];
  await waitFor(
    "the node's cgroups to be removed",
    async () => {
      for (const dir of nodeCgroups(n)) {
        try {
          rmdirSync(dir);
        } catch {
          // still busy; the next round tries again
        }
      }
      return nodeCgroups(n).length === 0 ? true : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 200 },
  ).catch(() => leftovers.push(...nodeCgroups(n).map((d) => `cgroup ${d}`)));
  if (netnsExists(n.netns)) leftovers.push(`network namespace ${n.netns}`);
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((line) => line.includes(n.dir));
  leftovers.push(...mounts.map((m) => `mount ${m.split(" ")[4]}`));
  return { outcome, leftovers };
}

/** Imports an image archive into the running node's containerd (and keeps it for the node's restarts). */
export function importImage(l: ClusterLayout, s: RealNodeState, archive: string): void {
  nodeCtr(l, s, ["images", "import", archive], "import the image into the node");
}

/** Gives an image of the node a second name (`ctr images tag --force`), e.g. a version a rollout asks for. */
export function tagImage(l: ClusterLayout, s: RealNodeState, ref: string, alias: string): void {
  nodeCtr(l, s, ["images", "tag", "--force", ref, alias], "tag the image in the node");
}

/** Runs `ctr` against the node's containerd, in the node's mount and network namespaces. */
function nodeCtr(l: ClusterLayout, s: RealNodeState, args: string[], what: string): void {
  const init = s.pids.init;
  if (init === undefined || !isOurs(init, l.dir))
    throw new UserError("the real node is not running: imctl cluster up --nodes real starts it");
  const pid1 = nodePid1(init);
  sh(
    "nsenter",
    [
      `--target=${pid1}`,
      "--mount",
      "--net",
      toolPath("ctr"),
      "--address",
      IN_NODE.containerdSock,
      "--namespace",
      "k8s.io",
      ...args,
    ],
    what,
  );
}

/** The node's PID 1 (the init script), the child of the recorded `unshare` process. */
function nodePid1(unsharePid: number): number {
  const children = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, "utf8").trim().split(/\s+/);
  const pid = Number(children[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`the real node's init (pid ${unsharePid}) has no child`);
  return pid;
}

/** The refs of the service images the node holds (written by `loadServiceImages`), by service. */
export const imageRefsFile = (l: ClusterLayout): string => join(realNodeLayout(l).images, "refs.json");

export function readImageRefs(l: ClusterLayout): Record<ServiceName, string> | undefined {
  const f = imageRefsFile(l);
  if (!existsSync(f)) return undefined;
  return JSON.parse(readFileSync(f, "utf8")) as Record<ServiceName, string>;
}

export interface LoadedImages {
  refs: Record<ServiceName, string>;
  /** Whether they were imported into a running node now (false: the node imports them when it starts). */
  imported: boolean;
  /** The version names the images also carry (`imctl cluster images --tag`), e.g. imctl.local/gateway:2.0.0. */
  tagged: Record<ServiceName, string> | null;
  seconds: number;
}

/**
 * Builds the services' images (see images/build.ts) into the node's image directory and, when the node is running,
 * imports them; the node imports them again whenever it starts.
 */
export async function loadServiceImages(l: ClusterLayout, s: RealNodeState | undefined): Promise<LoadedImages> {
  const t0 = Date.now();
  const n = realNodeLayout(l);
  const built = await buildServiceImages(n.images);
  const refs = Object.fromEntries(SERVICES.map((svc) => [svc, built.images[svc].ref])) as Record<ServiceName, string>;
  const running = s?.pids.init !== undefined && isOurs(s.pids.init, l.dir);
  if (running && s) for (const svc of SERVICES) importImage(l, s, built.images[svc].archive);
  writeFileSync(imageRefsFile(l), `${JSON.stringify(refs, null, 2)}\n`);
  return { refs, imported: running, tagged: null, seconds: (Date.now() - t0) / 1000 };
}
