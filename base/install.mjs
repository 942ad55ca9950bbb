// The installer: node modules, Debian packages (linked into .tools/bin), k6 (go install), kube-apiserver (go build of
// tools/kube-apiserver) and the Kafka broker jars (mvn), idempotently, under the git-ignored .tools/.
// Two profiles: "local" is what the local target runs on (npm start); "all" adds the tools only tests need (npm test,
// imctl tools install --all). ensureTools() installs a test tool on first use. A second run only checks stamps.
// Plain Node with no dependencies, because it runs before node_modules exists.
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
import { K6_VERSION, TOOLS, kafkaLibsDir, toolPath, toolsFor } from "./tools.mjs";

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
    throw new StepError(step, [cmd, ...args].join(" "), detail, fix);
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
 * kube-apiserver from tools/kube-apiserver (pinned Kubernetes modules); rebuilt only when its go.mod, go.sum or
 * main.go change. The first build compiles a large tree (minutes on two cores); Go's build cache keeps later ones fast.
 * Only tests need it, so the local profile leaves it out.
 */
function stepKubeApiserver() {
  const src = join(REPO_ROOT, "tools", "kube-apiserver");
  const bin = toolPath("kube-apiserver");
  const stamp = `${bin}.sha256`;
  const want = ["go.mod", "go.sum", "main.go"].map((f) => sha256(join(src, f))).join(",");
  if (existsSync(bin) && existsSync(stamp) && readFileSync(stamp, "utf8") === want) return "up to date";
  requireGo("kube-apiserver");
  mkdirSync(dirname(bin), { recursive: true });
  runStep(
    "kube-apiserver",
    "go",
    ["build", "-o", bin, "."],
    `check that the Go module proxy is reachable (GOPROXY), ${AGAIN}`,
    { cwd: src, env: { ...process.env, GOFLAGS: "-mod=mod" } },
  );
  writeFileSync(stamp, want);
  return "built from tools/kube-apiserver";
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
  if (names.has("kube-apiserver")) steps.push(["kube-apiserver", stepKubeApiserver]);
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
 * target runs on; "all" adds the tools only tests need (kube-apiserver, etcd).
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
