// The installer: node modules, Debian packages (linked into .tools/bin), k6 (go install), the Kafka broker jars (mvn),
// and for tests the Kubernetes control plane (go build of tools/kube-apiserver), kwok (go install), the Pulumi CLI and
// its kubernetes provider (go build of tools/pulumi and tools/pulumi-kubernetes), idempotently, under the git-ignored
// .tools/. Two profiles: "local" is what the local target runs on (npm start); "all" adds the tools only tests need
// (npm test, imctl tools install --all). ensureTools() installs a test tool on first use. A second run only checks
// stamps. Plain Node with no dependencies, because it runs before node_modules exists.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { REPO_ROOT } from "./root.mjs";
import {
  K6_VERSION,
  KUBERNETES_VERSION,
  KWOK_VERSION,
  COREDNS_VERSION,
  PULUMI_KUBERNETES_VERSION,
  PULUMI_VERSION,
  TOOLS,
  kafkaLibsDir,
  toolPath,
  toolsFor,
} from "./tools.mjs";

/** @typedef {import("./tools.mjs").Tool} Tool */

/** A step that could not finish: names the step, the command, what went wrong and how to fix it. */
export class StepError extends Error {
  /** @param {string} step @param {string} command @param {string} detail @param {string} fix */
  constructor(step, command, detail, fix) {
    super(`bootstrap: step "${step}" failed: \`${command}\` ${detail}. Fix: ${fix}`);
    this.name = "StepError";
  }
}

const AGAIN = "then run it again";

/** @param {string} cmd @param {string[]} args @param {import("node:child_process").SpawnSyncOptions} [opts] */
function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...opts });
  return { status: res.status, error: res.error, stdout: String(res.stdout ?? ""), stderr: String(res.stderr ?? "") };
}

/**
 * @param {string} step @param {string} cmd @param {string[]} args @param {string} fix
 * @param {import("node:child_process").SpawnSyncOptions} [opts]
 */
function runStep(step, cmd, args, fix, opts = {}) {
  const res = run(cmd, args, opts);
  if (res.error || res.status !== 0) {
    const lastLine = (res.stderr || res.stdout).trim().split("\n").filter(Boolean).slice(-1)[0] ?? "";
    const detail = res.error
      ? `could not start (${res.error.message})`
      : `exited ${res.status}${lastLine ? `: ${lastLine}` : ""}`;
    // Quoted where needed, so the command in the message can be pasted into a shell (ldflags have spaces).
    const shown = [cmd, ...args].map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(" ");
    throw new StepError(step, shown, detail, fix);
  }
  return res;
}

/** @param {string} path */
function sha256(path) {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** @param {string} target @param {string} link */
function linkTool(target, link) {
  mkdirSync(dirname(link), { recursive: true });
  try {
    if (readlinkSync(link) === target) return;
    unlinkSync(link);
  } catch {
    // no link yet
  }
  symlinkSync(target, link);
}

/** @param {string} step */
function requireGo(step) {
  const go = run("go", ["version"]);
  if (go.error || go.status !== 0) {
    throw new StepError(
      step,
      "go version",
      "found no Go toolchain",
      `install Go 1.23 or newer (apt-get install golang), ${AGAIN}`,
    );
  }
}

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

/**
 * How one pinned Go tool is built into .tools/bin: `go build -o <bin> <pkg>` in `dir`, or `go install <pkg>` with
 * GOBIN when `install` is set; `prepare` commands run first, in `dir` ("node" is the Node running the installer).
 * @typedef {{ name: string, dir: string, inputs: string[], pkg: string, ldflags: string, install?: boolean,
 *             prepare?: Array<[string, string[]]>, env?: Record<string, string>, fix: string }} GoBuild
 */

/**
 * The stamp of a Go build: sha256 over its package, flags and prepare commands and over each input file, so that a
 * changed source, pin or flag rebuilds the tool and nothing else does. The output path is left out on purpose: a
 * moved checkout need not rebuild.
 * @param {GoBuild} b
 */
function goStamp(b) {
  const h = createHash("sha256").update(JSON.stringify([b.pkg, b.ldflags, b.prepare ?? [], ...(b.env ? [b.env] : [])]));
  for (const f of b.inputs) h.update(`\n${f} ${sha256(join(b.dir, f))}`);
  return h.digest("hex");
}

/**
 * Builds one Go tool unless `<bin>.sha256` matches its stamp. A first build compiles a large tree (minutes on two
 * cores); Go's build cache keeps rebuilds to about a link.
 * @param {GoBuild} b
 */
function goTool(b) {
  const bin = toolPath(b.name);
  const stamp = `${bin}.sha256`;
  const want = goStamp(b);
  if (existsSync(bin) && existsSync(stamp) && readFileSync(stamp, "utf8") === want) return "up to date";
  requireGo(b.name);
  mkdirSync(dirname(bin), { recursive: true });
  // A build that fails halfway must not leave the previous stamp beside a binary it may have replaced.
  rmSync(stamp, { force: true });
  // -mod=readonly: a build never edits the tracked go.mod or go.sum (a missing entry fails here, naming the step);
  // -buildvcs=false: the binary does not depend on the state of the checkout.
  const env = { ...process.env, ...b.env, GOFLAGS: "-mod=readonly -buildvcs=false", GOBIN: dirname(bin) };
  /** @type {import("node:child_process").SpawnSyncOptions} */
  const opts = { cwd: b.dir, env, stdio: ["ignore", "pipe", "pipe"] };
  for (const [cmd, args] of b.prepare ?? []) {
    runStep(b.name, cmd === "node" ? process.execPath : cmd, args, b.fix, opts);
  }
  const args = b.install
    ? ["install", "-ldflags", b.ldflags, b.pkg]
    : ["build", "-ldflags", b.ldflags, "-o", bin, b.pkg];
  runStep(b.name, "go", args, b.fix, opts);
  writeFileSync(stamp, want);
  return b.install ? `built ${b.pkg}` : `built from ${b.dir.slice(REPO_ROOT.length + 1)}`;
}

// -s -w leave out the symbol table and DWARF (about 30 % smaller; panics still print their stack traces).
const STRIP = "-s -w";
const PROXY_FIX = `check that the Go module proxy is reachable (GOPROXY), ${AGAIN}`;
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
