#!/usr/bin/env node
// Installs everything the toolkit runs on, idempotently, under the git-ignored .tools/:
// node modules, Debian packages (linked into .tools/bin), k6 (go install), kube-apiserver (go build of
// tools/kube-apiserver) and the Kafka broker jars (mvn).
// Plain Node with no dependencies, because it runs before node_modules exists.
// Called by `npm start`, `npm test` and `imctl tools install`; a second run only checks stamps (well under 10 s).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Where tools land; IMCTL_TOOLS_DIR overrides it (tests use that to simulate a machine without tools). */
export function toolsDir() {
  return process.env.IMCTL_TOOLS_DIR ?? join(ROOT, ".tools");
}

/** k6 is built from source by the Go toolchain; this is the pinned module version. */
export const K6_VERSION = "v1.8.1";

/**
 * @typedef {{ name: string, source: "debian" | "go" | "maven", package: string, systemPath?: string,
 *             versionArgs?: string[], purpose: string }} Tool
 */

/** @type {Tool[]} Every binary the local target and the tests call, by the name it has under .tools/bin. */
export const TOOLS = [
  {
    name: "redis-server",
    source: "debian",
    package: "redis-server",
    systemPath: "/usr/bin/redis-server",
    versionArgs: ["--version"],
    purpose: "Redis Cluster nodes",
  },
  {
    name: "redis-cli",
    source: "debian",
    package: "redis-tools",
    systemPath: "/usr/bin/redis-cli",
    versionArgs: ["--version"],
    purpose: "creates the Redis Cluster",
  },
  {
    name: "mariadbd",
    source: "debian",
    package: "mariadb-server",
    systemPath: "/usr/sbin/mariadbd",
    versionArgs: ["--version"],
    purpose: "MySQL-protocol stand-in for TiDB",
  },
  {
    name: "mariadb-install-db",
    source: "debian",
    package: "mariadb-server",
    systemPath: "/usr/bin/mariadb-install-db",
    purpose: "initialises the database directory",
  },
  {
    name: "mariadb-dump",
    source: "debian",
    package: "mariadb-client",
    systemPath: "/usr/bin/mariadb-dump",
    versionArgs: ["--version"],
    purpose: "database backups",
  },
  {
    name: "mariadb",
    source: "debian",
    package: "mariadb-client",
    systemPath: "/usr/bin/mariadb",
    versionArgs: ["--version"],
    purpose: "restores database backups (imctl drill restore)",
  },
  {
    name: "nft",
    source: "debian",
    package: "nftables",
    systemPath: "/usr/sbin/nft",
    versionArgs: ["--version"],
    purpose: "network partitions on loopback ports (imctl drill run partition)",
  },
  {
    name: "nginx",
    source: "debian",
    package: "nginx",
    systemPath: "/usr/sbin/nginx",
    versionArgs: ["-v"],
    purpose: "gateway load balancer",
  },
  {
    name: "prometheus",
    source: "debian",
    package: "prometheus",
    systemPath: "/usr/bin/prometheus",
    versionArgs: ["--version"],
    purpose: "metrics and alert rules",
  },
  {
    name: "promtool",
    source: "debian",
    package: "prometheus",
    systemPath: "/usr/bin/promtool",
    versionArgs: ["--version"],
    purpose: "checks and unit-tests alert rules",
  },
  {
    name: "node-exporter",
    source: "debian",
    package: "prometheus-node-exporter",
    systemPath: "/usr/bin/prometheus-node-exporter",
    versionArgs: ["--version"],
    purpose: "host metrics",
  },
  {
    name: "redis-exporter",
    source: "debian",
    package: "prometheus-redis-exporter",
    systemPath: "/usr/bin/prometheus-redis-exporter",
    versionArgs: ["-version"],
    purpose: "Redis metrics",
  },
  {
    name: "mysqld-exporter",
    source: "debian",
    package: "prometheus-mysqld-exporter",
    systemPath: "/usr/bin/prometheus-mysqld-exporter",
    versionArgs: ["--version"],
    purpose: "database metrics",
  },
  {
    name: "nginx-exporter",
    source: "debian",
    package: "prometheus-nginx-exporter",
    systemPath: "/usr/bin/prometheus-nginx-exporter",
    versionArgs: ["-version"],
    purpose: "nginx metrics",
  },
  {
    name: "java",
    source: "debian",
    package: "openjdk-17-jre-headless",
    systemPath: "/usr/bin/java",
    versionArgs: ["-version"],
    purpose: "runs the Kafka brokers",
  },
  { name: "k6", source: "go", package: `go.k6.io/k6@${K6_VERSION}`, versionArgs: ["version"], purpose: "load tests" },
  {
    name: "etcd",
    source: "debian",
    package: "etcd-server",
    systemPath: "/usr/bin/etcd",
    versionArgs: ["--version"],
    purpose: "the store of the Kubernetes API server in the rollout's kubernetes-target test",
  },
  {
    name: "kube-apiserver",
    source: "go",
    package: "tools/kube-apiserver",
    versionArgs: ["--version"],
    purpose: "a real Kubernetes API server for the rollout's kubernetes-target test",
  },
  {
    name: "kafka",
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
  return name === "kafka" ? kafkaLibsDir() : join(toolsDir(), "bin", name);
}

class StepError extends Error {
  /** @param {string} step @param {string} command @param {string} detail @param {string} fix */
  constructor(step, command, detail, fix) {
    super(`bootstrap: step "${step}" failed: \`${command}\` ${detail}. Fix: ${fix}`);
    this.name = "StepError";
  }
}

/** @param {string} cmd @param {string[]} args @param {import("node:child_process").SpawnSyncOptions} [opts] */
function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...opts });
  return { status: res.status, error: res.error, stdout: String(res.stdout ?? ""), stderr: String(res.stderr ?? "") };
}

/** @param {string} step @param {string} cmd @param {string[]} args @param {string} fix @param {import("node:child_process").SpawnSyncOptions} [opts] */
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

function stepNodeModules() {
  const lock = join(ROOT, "package-lock.json");
  const stamp = join(ROOT, "node_modules", ".imctl-lock-sha256");
  const want = existsSync(lock) ? sha256(lock) : "no-lock";
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === want) return "up to date";
  const args = existsSync(lock) ? ["ci", "--no-audit", "--no-fund"] : ["install", "--no-audit", "--no-fund"];
  runStep("node modules", "npm", args, "check that the npm registry is reachable, then run npm start again", {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "pipe"],
  });
  writeFileSync(stamp, want);
  return `npm ${args[0]}`;
}

function stepDebian() {
  const pkgs = [...new Set(TOOLS.filter((t) => t.source === "debian").map((t) => t.package))];
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
        `run \`sudo apt-get update && sudo apt-get install -y ${missing.join(" ")}\`, then npm start again`,
      );
    }
    const fix =
      "check that Debian's package mirror is reachable and dpkg is not locked by another apt run, then run npm start again";
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
  for (const t of TOOLS.filter((x) => x.source === "debian")) {
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
  const go = run("go", ["version"]);
  if (go.error || go.status !== 0) {
    throw new StepError(
      "k6",
      "go version",
      "found no Go toolchain",
      "install Go 1.23 or newer (apt-get install golang), then run npm start again",
    );
  }
  mkdirSync(dirname(bin), { recursive: true });
  runStep(
    "k6",
    "go",
    ["install", `go.k6.io/k6@${K6_VERSION}`],
    "check that the Go module proxy is reachable (GOPROXY), then run npm start again",
    {
      env: { ...process.env, GOBIN: dirname(bin), GOFLAGS: "-mod=mod" },
    },
  );
  return `built ${K6_VERSION}`;
}

function stepKafka() {
  const pom = join(ROOT, "tools", "kafka", "pom.xml");
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
    "check that Maven Central is reachable and mvn is installed (apt-get install maven), then run npm start again",
  );
  writeFileSync(join(tmp, ".pom-sha256"), want);
  rmSync(libs, { recursive: true, force: true });
  renameSync(tmp, libs);
  return "resolved from Maven Central";
}

/**
 * kube-apiserver from tools/kube-apiserver (pinned Kubernetes modules); rebuilt only when its go.mod, go.sum or
 * main.go change. The first build compiles a large tree (minutes on two cores); Go's build cache keeps later ones fast.
 */
function stepKubeApiserver() {
  const src = join(ROOT, "tools", "kube-apiserver");
  const bin = toolPath("kube-apiserver");
  const stamp = `${bin}.sha256`;
  const want = ["go.mod", "go.sum", "main.go"].map((f) => sha256(join(src, f))).join(",");
  if (existsSync(bin) && existsSync(stamp) && readFileSync(stamp, "utf8") === want) return "up to date";
  const go = run("go", ["version"]);
  if (go.error || go.status !== 0) {
    throw new StepError(
      "kube-apiserver",
      "go version",
      "found no Go toolchain",
      "install Go 1.23 or newer (apt-get install golang), then run npm start again",
    );
  }
  mkdirSync(dirname(bin), { recursive: true });
  runStep(
    "kube-apiserver",
    "go",
    ["build", "-o", bin, "."],
    "check that the Go module proxy is reachable (GOPROXY), then run npm start again",
    {
      cwd: src,
      env: { ...process.env, GOFLAGS: "-mod=mod" },
    },
  );
  writeFileSync(stamp, want);
  return "built from tools/kube-apiserver";
}

/** Version string of one installed tool, or null when it is not installed. @param {Tool} t */
export function toolVersion(t) {
  if (t.name === "kafka") {
    const libs = kafkaLibsDir();
    if (!existsSync(libs)) return null;
    const pom = readFileSync(join(ROOT, "tools", "kafka", "pom.xml"), "utf8");
    return pom.match(/<kafka\.version>([^<]+)</)?.[1] ?? "unknown";
  }
  const bin = toolPath(t.name);
  if (!existsSync(bin)) return null;
  if (!t.versionArgs) return "installed";
  const r = run(bin, t.versionArgs);
  const text = `${r.stdout}\n${r.stderr}`;
  const m = text.match(/v?(\d+\.\d+(?:\.\d+)?(?:[-+~][\w.~+-]+)?)/);
  return m?.[1] ?? "unknown";
}

/** @type {Array<[string, () => string]>} */
const STEPS = [
  ["node modules", stepNodeModules],
  ["debian packages", stepDebian],
  ["k6", stepK6],
  ["kube-apiserver", stepKubeApiserver],
  ["kafka jars", stepKafka],
];

/**
 * Runs every step in order, reporting progress on stderr.
 * @param {{ skipNodeModules?: boolean, log?: (line: string) => void }} [opts]
 * @returns {{ steps: Array<{ step: string, result: string, seconds: number }>, seconds: number }}
 */
export function installAll(opts = {}) {
  const log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
  const started = Date.now();
  const steps = [];
  const todo = STEPS.filter(([name]) => !(opts.skipNodeModules && name === "node modules"));
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

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { seconds } = installAll();
    process.stderr.write(`[bootstrap] done in ${seconds.toFixed(1)} s; tools in ${toolsDir()}\n`);
  } catch (err) {
    process.stderr.write(`${err instanceof StepError ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
