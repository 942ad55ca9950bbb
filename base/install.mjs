// The installer: node modules, Debian packages (linked into .tools/bin), k6 (go install), the Kafka broker jars (mvn),
// and for tests the Kubernetes control plane (go build of tools/kube-apiserver), kwok (go install), the Pulumi CLI and
// its kubernetes provider (go build of tools/pulumi and tools/pulumi-kubernetes), idempotently, under the git-ignored
// .tools/. Two profiles: "local" is what the local target runs on (npm start); "all" adds the tools only tests need
// (npm test, imctl tools install --all). ensureTools() installs a test tool on first use. A second run only checks
// stamps. Plain Node with no dependencies, because it runs before node_modules exists.
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { REPO_ROOT } from "./root.mjs";
import {
  AGAIN,
  goTool,
  linkTool,
  PROXY_FIX,
  requireGo,
  run,
  runStep,
  sha256,
  StepError,
  STRIP,
} from "./install-core.mjs";

export { StepError };
import {
  K6_VERSION,
  KUBERNETES_VERSION,
  KWOK_VERSION,
  COREDNS_VERSION,
  GATEWAY_API_VERSION,
  TRAEFIK_VERSION,
  PULUMI_KUBERNETES_VERSION,
  PULUMI_VERSION,
  TOOLS,
  kafkaLibsDir,
  toolPath,
  toolsFor,
} from "./tools.mjs";

/** @typedef {import("./tools.mjs").Tool} Tool */

function stepNodeModules() {
  // A worktree that links node_modules to another checkout's shares that install: npm ci would empty the linked
  // directory (every checkout sharing it loses its modules) and put a private copy in place of the link.
  if (lstatSync(join(REPO_ROOT, "node_modules"), { throwIfNoEntry: false })?.isSymbolicLink())
    return "linked to a shared install: left alone";
  const lock = join(REPO_ROOT, "package-lock.json");
  const stamp = join(REPO_ROOT, "node_modules", ".imctl-lock-sha256");
  const want = existsSync(lock) ? sha256(lock) : "no-lock";
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === want) return "up to date";
  const args = existsSync(lock) ? ["ci", "--no-audit", "--no-fund"] : ["install", "--no-audit", "--no-fund"];
  runStep("node modules", "npm", args, `check that the npm registry is reachable, ${AGAIN}`, {
    cwd: REPO_ROOT,
    stdio: ["ignore", "ignore", "pipe"],
  });
  writeFileSync(stamp, want);
  return `npm ${args[0]}`;
}

/** @param {Tool[]} tools the Debian tools to install and link */
function stepDebian(tools) {
  const pkgs = [...new Set(tools.map((t) => t.package))];
  const missing = pkgs.filter((p) => {
    const q = run("dpkg-query", ["-W", "-f=${Status}", p]);
    return q.status !== 0 || !q.stdout.includes("install ok installed");
  });
  if (missing.length > 0) {
    if (process.getuid?.() !== 0) {
      throw new StepError(
        "debian packages",
        `apt-get install ${missing.join(" ")}`,
        "needs root",
        `run \`sudo apt-get update && sudo apt-get install -y ${missing.join(" ")}\`, ${AGAIN}`,
      );
    }
    const fix = `check that Debian's package mirror is reachable and dpkg is not locked by another apt run, ${AGAIN}`;
    runStep("debian packages", "apt-get", ["update", "-qq"], fix);
    // Install only: the local target starts its own instances on its own ports, never the packaged services.
    const policy = "/usr/sbin/policy-rc.d";
    const ownPolicy = !existsSync(policy);
    if (ownPolicy) writeFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
    try {
      runStep("debian packages", "apt-get", ["install", "-y", "-q", "--no-install-recommends", ...missing], fix, {
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      });
    } finally {
      if (ownPolicy) rmSync(policy, { force: true });
    }
  }
  for (const t of tools) {
    if (!t.systemPath || !existsSync(t.systemPath)) {
      throw new StepError(
        "debian packages",
        `test -x ${t.systemPath}`,
        `found no ${t.name} after installing ${t.package}`,
        `reinstall it: apt-get install --reinstall ${t.package}`,
      );
    }
    linkTool(t.systemPath, toolPath(t.name));
  }
  return missing.length > 0 ? `installed ${missing.join(", ")}` : "up to date";
}

function stepK6() {
  const bin = toolPath("k6");
  if (existsSync(bin)) {
    const v = run(bin, ["version"]);
    if (v.status === 0 && v.stdout.includes(K6_VERSION)) return "up to date";
  }
  requireGo("k6");
  mkdirSync(dirname(bin), { recursive: true });
  runStep(
    "k6",
    "go",
    ["install", `go.k6.io/k6@${K6_VERSION}`],
    `check that the Go module proxy is reachable (GOPROXY), ${AGAIN}`,
    { env: { ...process.env, GOBIN: dirname(bin), GOFLAGS: "-mod=mod" } },
  );
  return `built ${K6_VERSION}`;
}

function stepKafka() {
  const pom = join(REPO_ROOT, "tools", "kafka", "pom.xml");
  const libs = kafkaLibsDir();
  const stamp = join(libs, ".pom-sha256");
  const want = sha256(pom);
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === want) return "up to date";
  const tmp = `${libs}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  runStep(
    "kafka jars",
    "mvn",
    ["-B", "-q", "-f", pom, "dependency:copy-dependencies", "-DincludeScope=runtime", `-DoutputDirectory=${tmp}`],
    `check that Maven Central is reachable and mvn is installed (apt-get install maven), ${AGAIN}`,
  );
  writeFileSync(join(tmp, ".pom-sha256"), want);
  rmSync(libs, { recursive: true, force: true });
  renameSync(tmp, libs);
  return "resolved from Maven Central";
}

const KUBE_DIR = join(REPO_ROOT, "tools", "kube-apiserver");
const KUBE_FIX =
  "check that the Go module proxy is reachable (GOPROXY) and that `go mod tidy` in tools/kube-apiserver changes " +
  `nothing, ${AGAIN}`;
// Upstream's release builds set these; without them the binaries and the API server's /version say v0.0.0-master.
const KUBE_LDFLAGS = [
  STRIP,
  `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
  `-X k8s.io/component-base/version.gitMajor=${KUBERNETES_VERSION.slice(1).split(".")[0]}`,
  `-X k8s.io/component-base/version.gitMinor=${KUBERNETES_VERSION.split(".")[1]}`,
].join(" ");

/**
 * The Kubernetes control plane from tools/kube-apiserver, one module with the pinned k8s.io/kubernetes and three
 * mains: kube-apiserver at its root, kube-controller-manager, kube-scheduler, kubelet and kube-proxy in folders of those names. Each
 * binary's stamp covers go.mod, go.sum and its own main.go. Only tests need them, so the local profile leaves them out.
 * @param {"kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "kubelet" | "kube-proxy"} name
 */
function stepKube(name) {
  const main = name === "kube-apiserver" ? "." : `./${name}`;
  return goTool({
    name,
    dir: KUBE_DIR,
    inputs: ["go.mod", "go.sum", join(main, "main.go")],
    pkg: main,
    ldflags: KUBE_LDFLAGS,
    fix: KUBE_FIX,
  });
}

/** The real node's sandbox binary: static (no libc in its image), from tools/pause (no dependencies). */
function stepPause() {
  return goTool({
    name: "pause",
    dir: join(REPO_ROOT, "tools", "pause"),
    inputs: ["go.mod", "main.go"],
    pkg: ".",
    ldflags: STRIP,
    env: { CGO_ENABLED: "0" },
    fix: `check that Go is installed (go version), ${AGAIN}`,
  });
}

function stepCoreDns() {
  return goTool({
    name: "coredns",
    dir: REPO_ROOT,
    inputs: [],
    pkg: `github.com/coredns/coredns@${COREDNS_VERSION}`,
    ldflags: STRIP,
    install: true,
    fix: PROXY_FIX,
  });
}

/** Traefik from tools/traefik (a wrapper: Traefik's own replace directives stop `go install`), static for its image. */
function stepTraefik() {
  return goTool({
    name: "traefik",
    dir: join(REPO_ROOT, "tools", "traefik"),
    inputs: ["go.mod", "go.sum", "tools.go"],
    pkg: "github.com/traefik/traefik/v3/cmd/traefik",
    ldflags: `${STRIP} -X github.com/traefik/traefik/v3/pkg/version.Version=${TRAEFIK_VERSION}`,
    env: { CGO_ENABLED: "0" },
    fix: PROXY_FIX,
  });
}

/** The Gateway API CRDs (standard channel): the release module's config/crd/standard, copied under .tools. */
function stepGatewayApiCrds() {
  const dest = toolPath("gateway-api-crds");
  if (existsSync(join(dest, ".done"))) return "up to date";
  requireGo("gateway-api-crds");
  const mod = `sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}`;
  const r = runStep("gateway-api-crds", "go", ["mod", "download", "-json", mod], PROXY_FIX, { cwd: tmpdir() });
  const dir = /** @type {{ Dir?: string }} */ (JSON.parse(r.stdout)).Dir;
  if (!dir) throw new StepError("gateway-api-crds", `go mod download -json ${mod}`, "named no directory", PROXY_FIX);
  const src = join(dir, "config", "crd", "standard");
  mkdirSync(dest, { recursive: true });
  for (const f of readdirSync(src).filter((n) => n.endsWith(".yaml"))) copyFileSync(join(src, f), join(dest, f));
  writeFileSync(join(dest, ".done"), `${mod}\n`);
  return `copied the standard CRDs of ${mod}`;
}

function stepKwok() {
  return goTool({
    name: "kwok",
    dir: REPO_ROOT,
    inputs: [],
    pkg: `sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}`,
    ldflags: STRIP,
    install: true,
    fix: PROXY_FIX,
  });
}

function stepPulumi() {
  return goTool({
    name: "pulumi",
    dir: join(REPO_ROOT, "tools", "pulumi"),
    inputs: ["go.mod", "go.sum"],
    pkg: "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
    ldflags: `${STRIP} -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${PULUMI_VERSION}`,
    fix: PROXY_FIX,
  });
}

const PULUMI_KUBERNETES_MODULE = "github.com/pulumi/pulumi-kubernetes/provider/v4";

/**
 * The kubernetes provider: its main embeds two files that gen-embed.mjs writes (git-ignored) from the provider
 * module's schema, so the module is downloaded and they are written before each build.
 */
function stepPulumiKubernetes() {
  return goTool({
    name: "pulumi-resource-kubernetes",
    dir: join(REPO_ROOT, "tools", "pulumi-kubernetes"),
    inputs: ["go.mod", "go.sum", "main.go", "gen-embed.mjs"],
    pkg: ".",
    ldflags: `${STRIP} -X ${PULUMI_KUBERNETES_MODULE}/pkg/version.Version=${PULUMI_KUBERNETES_VERSION}`,
    prepare: [
      ["go", ["mod", "download", PULUMI_KUBERNETES_MODULE]],
      ["node", ["gen-embed.mjs", PULUMI_KUBERNETES_VERSION]],
    ],
    fix: PROXY_FIX,
  });
}

/**
 * The steps that install `tools`, in order (node modules first unless skipped).
 * @param {Tool[]} tools @param {boolean} nodeModules
 * @returns {Array<[string, () => string]>}
 */
function stepsFor(tools, nodeModules) {
  const names = new Set(tools.map((t) => t.name));
  const debian = tools.filter((t) => t.source === "debian");
  /** @type {Array<[string, () => string]>} */
  const steps = [];
  if (nodeModules) steps.push(["node modules", stepNodeModules]);
  if (debian.length > 0) steps.push(["debian packages", () => stepDebian(debian)]);
  if (names.has("k6")) steps.push(["k6", stepK6]);
  for (const kube of /** @type {const} */ (["kube-apiserver", "kube-controller-manager", "kube-scheduler"])) {
    if (names.has(kube)) steps.push([kube, () => stepKube(kube)]);
  }
  if (names.has("kubelet")) steps.push(["kubelet", () => stepKube("kubelet")]);
  if (names.has("kube-proxy")) steps.push(["kube-proxy", () => stepKube("kube-proxy")]);
  if (names.has("coredns")) steps.push(["coredns", stepCoreDns]);
  if (names.has("traefik")) steps.push(["traefik", stepTraefik]);
  if (names.has("gateway-api-crds")) steps.push(["gateway-api-crds", stepGatewayApiCrds]);
  if (names.has("pause")) steps.push(["pause", stepPause]);
  if (names.has("kwok")) steps.push(["kwok", stepKwok]);
  if (names.has("pulumi")) steps.push(["pulumi", stepPulumi]);
  if (names.has("pulumi-resource-kubernetes")) steps.push(["pulumi-resource-kubernetes", stepPulumiKubernetes]);
  if (names.has("kafka")) steps.push(["kafka jars", stepKafka]);
  return steps;
}

/**
 * @param {Array<[string, () => string]>} todo @param {(line: string) => void} log
 * @returns {{ steps: Array<{ step: string, result: string, seconds: number }>, seconds: number }}
 */
function runSteps(todo, log) {
  const started = Date.now();
  const steps = [];
  for (const [i, [name, fn]] of todo.entries()) {
    const t0 = Date.now();
    log(`[bootstrap ${i + 1}/${todo.length}] ${name} ...`);
    const result = fn();
    const seconds = (Date.now() - t0) / 1000;
    log(`[bootstrap ${i + 1}/${todo.length}] ${name}: ${result} (${seconds.toFixed(1)} s)`);
    steps.push({ step: name, result, seconds });
  }
  return { steps, seconds: (Date.now() - started) / 1000 };
}

/** @param {string} line */
const stderrLine = (line) => process.stderr.write(`${line}\n`);

/**
 * Runs every step of a profile in order, reporting progress on stderr. "local" (the default) installs what the local
 * target runs on; "all" adds the tools only tests need (etcd, the Kubernetes control plane, kwok, Pulumi).
 * @param {{ profile?: "local" | "all", skipNodeModules?: boolean, log?: (line: string) => void }} [opts]
 * @returns {{ profile: "local" | "all", steps: Array<{ step: string, result: string, seconds: number }>,
 *             seconds: number }}
 */
export function installAll(opts = {}) {
  const profile = opts.profile ?? "local";
  const r = runSteps(stepsFor(toolsFor(profile), !opts.skipNodeModules), opts.log ?? stderrLine);
  return { profile, ...r };
}

/**
 * Installs the named tools when one is missing (first use of a test tool on a machine set up by `npm start`), with
 * one line saying so; does nothing when they are all there.
 * @param {string[]} names tool names from TOOLS
 * @param {{ log?: (line: string) => void }} [opts]
 * @returns {string[]} the tools that were missing and are now installed
 */
export function ensureTools(names, opts = {}) {
  const unknown = names.filter((n) => !TOOLS.some((t) => t.name === n));
  if (unknown.length > 0) throw new Error(`ensureTools: unknown tool ${unknown.join(", ")}`);
  const missing = TOOLS.filter((t) => names.includes(t.name) && !existsSync(toolPath(t.name)));
  if (missing.length === 0) return [];
  const list = missing.map((t) => t.name).join(", ");
  const slow = missing.some((t) => t.source === "go") ? " (a first Go build takes minutes)" : "";
  (opts.log ?? stderrLine)(`[tools] ${list} not installed yet: installing on first use${slow}`);
  runSteps(stepsFor(missing, false), () => {});
  return missing.map((t) => t.name);
}
