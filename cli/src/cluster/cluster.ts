/**
 * `imctl cluster up|down|logs`: the embedded cluster's lifecycle. `up` validates first (tools, openssl, ports),
 * then starts what is not running, in order, each waited for until healthy; a second `up` on a healthy cluster
 * changes nothing. `down` stops every process it recorded and deletes the cluster's directory. One workflow at a
 * time (the lock at `<state dir>/cluster.lock`).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureTools } from "../../../base/install.mjs";
import { portFree } from "../../../base/ports.ts";
import { GATEWAY_API_VERSION, toolPath } from "../../../base/tools.mjs";
import { UserError } from "../errors.ts";
import { withLock } from "../lib/lock.ts";
import { isOurs, startDetached, stopGroup } from "../lib/process.ts";
import { waitFor } from "../lib/wait.ts";
import { componentCommand, egressSelectorConfig, egressSelectorFile } from "./components.ts";
import {
  CLUSTER_TOOLS,
  COMPONENTS,
  type ClusterLayout,
  clusterLayout,
  componentKubeconfig,
  type ComponentId,
  isComponentId,
  logFile,
} from "./layout.ts";
import { CLUSTER_MESSAGES } from "./messages.ts";
import { ensurePki, type PkiFiles, pkiFiles, requireOpenssl, writeKubeconfig } from "./pki.ts";
import { listNodes, probe } from "./probe.ts";
import { renderStages } from "./stages.ts";
import { type ClusterState, PORT_NAMES, type PortName, readState, writeState } from "./state.ts";
import {
  adminToken,
  type ClusterLogs,
  type ClusterStatus,
  clusterStatus,
  livePid,
  tailLines,
  zonesReady,
} from "./status.ts";
import { createNodes, ensureDnsAccess } from "./nodes.ts";
import { buildNodeRuntimeImage, buildPrometheusImage, buildTraefikImage } from "./images/build.ts";
import { installAddons } from "./node/addons.ts";
import { REAL_NODE_NAME } from "./node/config.ts";
import {
  type LoadedImages,
  importImage,
  loadServiceImages,
  tagImage,
  readImageRefs,
  realNodeLayout,
  REAL_NODE_TOOLS,
  startRealNode,
  stopRealNode,
} from "./node/node.ts";
import { renderKubeconfig, tokenOf, IDENTITIES } from "./pki.ts";

export type Progress = (line: string) => void;

export interface ClusterUpOptions {
  /** Progress lines (with the elapsed time); default: none. */
  progress?: Progress;
  layout?: ClusterLayout;
  /**
   * Adds the real node (containerd + kubelet in namespaces of their own), whose pods really run. A cluster that has
   * one keeps it on a later `up` without this.
   */
  realNode?: boolean;
  /**
   * Machine loopback ports the real node's pods reach at 127.0.0.1 (the data tier a stack names as external
   * endpoints); the API server's port is always added. Default: none besides it.
   */
  hostPorts?: number[];
}

export interface ClusterUpResult extends ClusterStatus {
  /** True when the cluster was already running and healthy: nothing was started or written. */
  alreadyRunning: boolean;
  started: ComponentId[];
  reused: ComponentId[];
  elapsedSeconds: number;
}

/** Where the search for free ports starts (below the ephemeral range, away from the local target's ports). */
export const PORT_SEARCH_FROM = 24_100;

/** How long each component may take to become healthy after its start. */
const START_TIMEOUT_MS: Record<ComponentId, number> = {
  etcd: 60_000,
  "kube-apiserver": 120_000,
  "kube-controller-manager": 60_000,
  "kube-scheduler": 60_000,
  kwok: 60_000,
};

/** The admin kubeconfig `up` writes (context `imctl-embedded`). */
export function kubeconfigPath(layout: ClusterLayout = clusterLayout()): string {
  return layout.kubeconfig;
}

/** Installs missing test tools on first use (minutes for a Go build), then fails in one line if one is still absent. */
function requireTools(realNode: boolean): void {
  const tools = [...CLUSTER_TOOLS, ...(realNode ? REAL_NODE_TOOLS : [])];
  ensureTools(tools);
  for (const tool of tools) {
    const path = toolPath(tool);
    if (!existsSync(path)) throw new UserError(CLUSTER_MESSAGES.missingTool(tool, path));
  }
}

async function choosePorts(): Promise<Record<PortName, number>> {
  const ports = {} as Record<PortName, number>;
  let next = PORT_SEARCH_FROM;
  for (const name of PORT_NAMES) {
    while (next < 32_768 && !(await portFree("127.0.0.1", next))) next++;
    if (next >= 32_768) throw new UserError(CLUSTER_MESSAGES.noFreePorts(PORT_NAMES.length, PORT_SEARCH_FROM));
    ports[name] = next++;
  }
  return ports;
}

/** The ports of the components that must start are free (a running component holds its own). */
async function checkPorts(l: ClusterLayout, s: ClusterState): Promise<void> {
  for (const id of COMPONENTS) {
    if (livePid(l, s, id) !== undefined) continue;
    const names: PortName[] = id === "etcd" ? ["etcd", "etcd-peer"] : [id];
    for (const name of names) {
      if (!(await portFree("127.0.0.1", s.ports[name])))
        throw new UserError(CLUSTER_MESSAGES.portTaken(s.ports[name], id));
    }
  }
}

async function healthyNow(l: ClusterLayout, s: ClusterState, realNode: boolean): Promise<boolean> {
  const ctx = { caFile: pkiFiles(l).caCert, adminToken: () => adminToken(l) };
  for (const id of COMPONENTS) {
    if (livePid(l, s, id) === undefined || (await probe(id, s.ports[id], ctx)) !== undefined) return false;
  }
  if (realNode && !s.realNode) return false;
  const nodes = await listNodes(l.kubeconfig).catch(() => undefined);
  if (!nodes || !zonesReady(nodes)) return false;
  return !s.realNode || nodes.some((n) => n.name === REAL_NODE_NAME && n.ready);
}

/** The files every component reads: credentials, kubeconfigs, the kwok stages. */
function writeConfiguration(l: ClusterLayout, s: ClusterState): PkiFiles {
  mkdirSync(l.dir, { recursive: true, mode: 0o700 });
  const p = ensurePki(l);
  const api = s.ports["kube-apiserver"];
  writeKubeconfig(l.kubeconfig, p, "admin", api);
  for (const id of ["kube-controller-manager", "kube-scheduler", "kwok"] as const) {
    writeKubeconfig(componentKubeconfig(l, id), p, id, api);
  }
  writeFileSync(l.stages, renderStages());
  writeFileSync(egressSelectorFile(l), egressSelectorConfig(l));
  return p;
}

async function startComponent(l: ClusterLayout, s: ClusterState, p: PkiFiles, id: ComponentId): Promise<number> {
  const cmd = componentCommand(id, l, s.ports, p);
  const pid = startDetached({ bin: cmd.bin, args: cmd.args, logFile: logFile(l, id) }, l.dir);
  s.pids[id] = pid;
  writeState(l.state, s);
  const ctx = { caFile: p.caCert, adminToken: () => adminToken(l) };
  let last: string | undefined;
  await waitFor(
    `${id} to become healthy`,
    async () => {
      if (livePid(l, s, id) === undefined) throw new Error(`${id} exited: ${tailLines(logFile(l, id), 3).join(" | ")}`);
      last = await probe(id, s.ports[id], ctx);
      return last === undefined ? true : undefined;
    },
    { timeoutMs: START_TIMEOUT_MS[id], intervalMs: 250, lastError: () => last },
  );
  return pid;
}

/** Stops what this run started, after a failed start; a cluster created by this run leaves only its logs. */
async function undoStart(l: ClusterLayout, s: ClusterState, started: ComponentId[], created: boolean): Promise<void> {
  for (const id of [...started].reverse()) {
    const pid = s.pids[id];
    if (pid !== undefined) await stopGroup(pid, "SIGTERM", 10_000);
    delete s.pids[id];
  }
  if (!created) return writeState(l.state, s);
  // A cluster this run created leaves only its logs, to read why (down --yes deletes them).
  for (const entry of readdirSync(l.dir)) {
    if (join(l.dir, entry) !== l.logs) rmSync(join(l.dir, entry), { recursive: true, force: true });
  }
}

/** A kubeconfig of the real node: the API server on 127.0.0.1, which the node's forwarder serves inside its namespace. */
function nodeKubeconfig(p: PkiFiles, apiPort: number, who: "kubelet" | "kube-proxy" | "coredns"): string {
  return renderKubeconfig({
    server: `https://127.0.0.1:${apiPort}`,
    caPem: readFileSync(p.caCert, "utf8"),
    user: IDENTITIES[who].user,
    token: tokenOf(p, who),
  });
}

/** Starts (or repairs) the real node after the control plane: images, forwarder, PID 1, then Ready. */
async function bringUpRealNode(
  l: ClusterLayout,
  s: ClusterState,
  p: PkiFiles,
  say: Progress,
  hostPorts: number[] | undefined,
): Promise<void> {
  await ensureDnsAccess(l.kubeconfig);
  if (!readImageRefs(l)) {
    say("real node: building the services' images (Node, their dependencies, the compiled services)");
    const loaded = await loadServiceImages(l, undefined);
    say(`real node: images ${Object.values(loaded.refs).join(", ")} (${loaded.seconds.toFixed(1)} s)`);
  }
  const traefik = await buildTraefikImage(realNodeLayout(l).images);
  const prometheus = await buildPrometheusImage(realNodeLayout(l).images);
  const runtime = await buildNodeRuntimeImage(realNodeLayout(l).images);
  const wasRunning = s.realNode?.pids.init !== undefined && isOurs(s.realNode.pids.init, l.dir);
  s.realNode = await startRealNode({
    layout: l,
    pki: p,
    kubeconfigFor: (who) => nodeKubeconfig(p, s.ports["kube-apiserver"], who),
    apiPort: s.ports["kube-apiserver"],
    hostPorts: hostPorts ?? s.realNode?.hostPorts ?? [],
    prior: s.realNode,
    say,
  });
  writeState(l.state, s);
  say(`real node: waiting for ${REAL_NODE_NAME} to be Ready`);
  const outcome = await waitFor(
    `node ${REAL_NODE_NAME} to be Ready`,
    async () => {
      const init = s.realNode?.pids.init;
      // A node whose init ended will not become Ready: stop waiting and say why.
      if (init === undefined || !isOurs(init, l.dir)) return "stopped";
      const nodes = await listNodes(l.kubeconfig);
      return nodes.some((x) => x.name === REAL_NODE_NAME && x.ready) ? "ready" : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500, lastError: () => tailLines(join(l.logs, "kubelet.log"), 1)[0] },
  );
  if (outcome === "stopped") {
    const said = [...tailLines(join(l.logs, "node.log"), 1), ...tailLines(join(l.logs, "kubelet.log"), 2)].join(" | ");
    throw new Error(`the real node stopped: ${said || `its init ended with nothing in ${join(l.logs, "node.log")}`}`);
  }
  say(`real node: ${REAL_NODE_NAME} Ready`);
  // A node that was already running imported its images when it started: an add-on's new image is imported now.
  if (wasRunning && s.realNode)
    for (const image of [traefik, prometheus, runtime]) importImage(l, s.realNode, image.archive);
  await installAddons(
    {
      server: `https://127.0.0.1:${s.ports["kube-apiserver"]}`,
      ca: readFileSync(p.caCert, "utf8"),
      token: adminToken(l),
    },
    {
      apiPort: s.ports["kube-apiserver"],
      crdDir: toolPath("gateway-api-crds"),
      traefikImage: traefik.ref,
      prometheusImage: prometheus.ref,
      runtimeImage: runtime.ref,
    },
  );
  say(
    `real node: Gateway API CRDs ${GATEWAY_API_VERSION}, Traefik (GatewayClass im-gateway) and Prometheus ` +
      "(im-observability/prometheus:9090) applied",
  );
}

async function bringUp(
  l: ClusterLayout,
  say: Progress,
  opts: ClusterUpOptions,
): Promise<{ started: ComponentId[]; reused: ComponentId[] }> {
  const prior = readState(l.state);
  const s: ClusterState = prior ?? {
    version: 1,
    createdAt: new Date().toISOString(),
    ports: await choosePorts(),
    pids: {},
  };
  if (prior) await checkPorts(l, s);
  const p = writeConfiguration(l, s);
  writeState(l.state, s);
  const started: ComponentId[] = [];
  const reused: ComponentId[] = [];
  try {
    for (const id of COMPONENTS) {
      if (id === "kwok") await createNodes(l.kubeconfig);
      const live = livePid(l, s, id);
      if (live !== undefined) {
        reused.push(id);
        say(`${id}: already running (pid ${live}, port ${s.ports[id]})`);
        continue;
      }
      started.push(id);
      const pid = await startComponent(l, s, p, id);
      say(`${id}: started and healthy (pid ${pid}, port ${s.ports[id]})`);
    }
    say("nodes: waiting for one Ready simulated node per zone");
    await waitFor(
      "three Ready nodes, one per zone",
      () => listNodes(l.kubeconfig).then((n) => (zonesReady(n) ? true : undefined)),
      {
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    );
    if (opts.realNode || s.realNode) await bringUpRealNode(l, s, p, say, opts.hostPorts);
  } catch (err) {
    say(`failed: ${(err as Error).message}; stopping what this run started`);
    if (s.realNode && !prior?.realNode) {
      await stopRealNode(l, s.realNode);
      delete s.realNode;
    }
    await undoStart(l, s, started, prior === undefined);
    throw err;
  }
  return { started, reused };
}

/**
 * Starts the embedded cluster (or repairs it: components that died are started again on their recorded ports).
 * A cluster that is already running and healthy is left exactly as it is.
 */
export async function clusterUp(opts: ClusterUpOptions = {}): Promise<ClusterUpResult> {
  const l = opts.layout ?? clusterLayout();
  const t0 = Date.now();
  const say = (msg: string) => opts.progress?.(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);
  return withLock(l.lock, "imctl cluster up", async () => {
    const prior = readState(l.state);
    if (prior && (await healthyNow(l, prior, opts.realNode === true))) {
      say("the embedded cluster is already running and healthy: nothing to do");
      const st = await clusterStatus(l);
      return {
        ...st,
        alreadyRunning: true,
        started: [],
        reused: [...COMPONENTS],
        elapsedSeconds: (Date.now() - t0) / 1000,
      };
    }
    requireTools(opts.realNode === true || prior?.realNode !== undefined);
    requireOpenssl();
    const { started, reused } = await bringUp(l, say, opts);
    say(`ready: kubeconfig ${l.kubeconfig}; ${CLUSTER_MESSAGES.simulated}`);
    const st = await clusterStatus(l);
    return { ...st, alreadyRunning: false, started, reused, elapsedSeconds: (Date.now() - t0) / 1000 };
  });
}

export interface ClusterDownResult {
  dir: string;
  stopped: Array<{ id: ComponentId; pid: number; outcome: "stopped" | "killed" | "not running" }>;
  /** Whether the cluster's directory (etcd data, certificates, kubeconfig, logs) was deleted. */
  removed: boolean;
  /** Ports of the cluster something still listens on after down (none, unless another process took one). */
  portsStillInUse: number[];
  /** What of the real node is still there after down (a cgroup, a mount, its network namespace): none expected. */
  leftovers: string[];
  elapsedSeconds: number;
}

/** Stops every component and deletes the cluster's data. Asks for `yes` when there is a cluster to delete. */
export async function clusterDown(opts: {
  yes: boolean;
  progress?: Progress;
  layout?: ClusterLayout;
}): Promise<ClusterDownResult> {
  const l = opts.layout ?? clusterLayout();
  const t0 = Date.now();
  const none = { dir: l.dir, stopped: [], removed: false, portsStillInUse: [], leftovers: [], elapsedSeconds: 0 };
  if (!existsSync(l.dir)) return none;
  if (!opts.yes) throw new UserError(CLUSTER_MESSAGES.confirmDown);
  return withLock(l.lock, "imctl cluster down", async () => {
    const s = readState(l.state);
    const stopped: ClusterDownResult["stopped"] = [];
    let leftovers: string[] = [];
    if (s?.realNode) {
      const r = await stopRealNode(l, s.realNode);
      leftovers = r.leftovers;
      opts.progress?.(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] real node: ${r.outcome}`);
    }
    for (const id of [...COMPONENTS].reverse()) {
      const pid = s ? livePid(l, s, id) : undefined;
      if (pid === undefined) continue;
      const outcome = await stopGroup(pid, "SIGTERM", 10_000);
      opts.progress?.(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${id}: ${outcome} (pid ${pid})`);
      stopped.push({ id, pid, outcome });
    }
    rmSync(l.dir, { recursive: true, force: true });
    const portsStillInUse: number[] = [];
    for (const port of s ? Object.values(s.ports) : [])
      if (!(await portFree("127.0.0.1", port))) portsStillInUse.push(port);
    return {
      dir: l.dir,
      stopped,
      removed: true,
      portsStillInUse,
      leftovers,
      elapsedSeconds: (Date.now() - t0) / 1000,
    };
  });
}

/** The last `lines` lines of one component's log. */
export function clusterLogs(component: string, lines: number, layout: ClusterLayout = clusterLayout()): ClusterLogs {
  if (!isComponentId(component)) throw new UserError(CLUSTER_MESSAGES.unknownComponent(component, COMPONENTS));
  const file = logFile(layout, component);
  return { component, file, lines: tailLines(file, lines) };
}

/** Rebuilds the services' images from the working tree and imports them into the running real node. */
/** Image tags a version may be (the rollout's --version takes the same). */
const VERSION_TAG = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Builds the services' images from this checkout and imports them into the real node; with `tag`, each also gets
 * that version as its tag (imctl.local/<service>:<tag>), so `imctl rollout start <service> --version <tag>` runs it.
 */
export async function clusterImages(
  opts: { progress?: Progress; layout?: ClusterLayout; tag?: string } = {},
): Promise<LoadedImages> {
  if (opts.tag !== undefined && !VERSION_TAG.test(opts.tag)) throw new UserError(CLUSTER_MESSAGES.badTag(opts.tag));
  const l = opts.layout ?? clusterLayout();
  return withLock(l.lock, "imctl cluster images", async () => {
    const s = readState(l.state);
    if (!s?.realNode) throw new UserError(CLUSTER_MESSAGES.noRealNode);
    opts.progress?.("building the services' images and importing them into the real node");
    const loaded = await loadServiceImages(l, s.realNode);
    if (opts.tag === undefined) return loaded;
    const node = s.realNode;
    const tagged = Object.fromEntries(
      Object.entries(loaded.refs).map(([svc, ref]) => {
        const alias = `${ref.slice(0, ref.lastIndexOf(":"))}:${opts.tag}`;
        tagImage(l, node, ref, alias);
        return [svc, alias];
      }),
    ) as LoadedImages["tagged"];
    opts.progress?.(`tagged ${opts.tag}: ${Object.values(tagged ?? {}).join(", ")}`);
    return { ...loaded, tagged };
  });
}
