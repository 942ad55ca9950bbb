// The installer's building blocks: a failing step that names itself, running a command as a step, and the stamped
// Go builds every Go tool goes through (base/install.mjs defines the steps themselves).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { REPO_ROOT } from "./root.mjs";
import { toolPath } from "./tools.mjs";

/** A step that could not finish: names the step, the command, what went wrong and how to fix it. */
export class StepError extends Error {
  /** @param {string} step @param {string} command @param {string} detail @param {string} fix */
  constructor(step, command, detail, fix) {
    super(`bootstrap: step "${step}" failed: \`${command}\` ${detail}. Fix: ${fix}`);
    this.name = "StepError";
  }
}

export const AGAIN = "then run it again";

/** @param {string} cmd @param {string[]} args @param {import("node:child_process").SpawnSyncOptions} [opts] */
export function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...opts });
  return { status: res.status, error: res.error, stdout: String(res.stdout ?? ""), stderr: String(res.stderr ?? "") };
}

/**
 * @param {string} step @param {string} cmd @param {string[]} args @param {string} fix
 * @param {import("node:child_process").SpawnSyncOptions} [opts]
 */
export function runStep(step, cmd, args, fix, opts = {}) {
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
export function sha256(path) {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** @param {string} target @param {string} link */
export function linkTool(target, link) {
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
export function requireGo(step) {
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
export function goStamp(b) {
  const h = createHash("sha256").update(JSON.stringify([b.pkg, b.ldflags, b.prepare ?? [], ...(b.env ? [b.env] : [])]));
  for (const f of b.inputs) h.update(`\n${f} ${sha256(join(b.dir, f))}`);
  return h.digest("hex");
}

/**
 * Builds one Go tool unless `<bin>.sha256` matches its stamp. A first build compiles a large tree (minutes on two
 * cores); Go's build cache keeps rebuilds to about a link.
 * @param {GoBuild} b
 */
export function goTool(b) {
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
export const STRIP = "-s -w";
export const PROXY_FIX = `check that the Go module proxy is reachable (GOPROXY), ${AGAIN}`;
