/**
 * Runs seeded fuzz cases (cases.ts) through imctl's own main() in this process, with a bounded heap (the parent
 * starts it with --max-old-space-size), and writes one JSON summary on stdout. A case fails when its exit code is not
 * the expected one, a refusal prints more than 3 lines or no "imctl: " line, --json gives no JSON, any output holds
 * a stack trace, the state directory's hash changes, the heap grows past the bound, or the case outlives its budget.
 *
 * Usage: node --import tsx --max-old-space-size=384 test/fuzz/worker.ts <seed> <maxCases> <seconds> <workDir>
 */
import { mkdirSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { rng } from "../../base/prng.ts";
import { REPO_ROOT } from "../../base/root.mjs";
import { buildProgram } from "../../cli/src/cli.ts";
import { main } from "../../cli/src/main.ts";
import { fuzzCase, hostileFiles, type FuzzCase } from "./cases.ts";
import { treeHash } from "../helpers/tree-hash.ts";

const [seedArg, maxArg, secondsArg, work] = process.argv.slice(2);
const seed = Number(seedArg);
const maxCases = Number(maxArg);
const deadline = Date.now() + Number(secondsArg) * 1000;
if (!Number.isInteger(seed) || !(maxCases > 0) || work === undefined)
  throw new Error("usage: worker.ts <seed> <maxCases> <seconds> <workDir>");

/** Heap a case may leave in use; far below what the parent's --max-old-space-size allows. */
const HEAP_BOUND_MB = 300;
/** A case that runs longer than this hangs on something it should have refused. */
const CASE_BUDGET_MS = 20_000;

const state = join(work, "state");
mkdirSync(state, { recursive: true });
writeFileSync(
  join(state, "state.json"),
  JSON.stringify({ version: 1, stack: join(REPO_ROOT, "stacks", "local.yaml"), components: {} }),
);
process.env.IMCTL_STATE_DIR = state;
const files = hostileFiles(join(work, "files"));

const STACK_TRACE = /^\s+at [^\n]*(:\d+:\d+\)?|\(native\)|<anonymous>)\s*$/m;

function problem(c: FuzzCase, code: number | "hang", out: string, err: string): string | null {
  if (code === "hang") return `no answer within ${CASE_BUDGET_MS} ms`;
  if (code !== c.expect) return `exit ${code}, expected ${c.expect}`;
  if (STACK_TRACE.test(out) || STACK_TRACE.test(err)) return "a stack trace in the output";
  if (c.expect === 2) {
    const lines = [...out.split("\n"), ...err.split("\n")].filter((l) => l !== "");
    if (lines.length > 3) return `${lines.length} lines of output`;
    if (!err.startsWith("imctl: ")) return "no imctl: line on stderr";
    if (lines.some((l) => l.length > 600)) return "a line over 600 characters";
    if (c.argv.includes("--json")) {
      try {
        const j = JSON.parse(out) as { exitCode?: unknown };
        if (j.exitCode !== 2) return "--json: exitCode is not 2";
      } catch {
        return "--json: stdout is not JSON";
      }
    }
  }
  return null;
}

const program = buildProgram(() => undefined);
const r = rng(seed);
const failures: Array<{ n: number; fault: string; argv: string[]; problem: string; output: string }> = [];
const byFault: Record<string, number> = {};
let maxHeapMb = 0;
let n = 0;
const realOut = process.stdout.write.bind(process.stdout);
const realErr = process.stderr.write.bind(process.stderr);
for (; n < maxCases && Date.now() < deadline; n++) {
  const c = fuzzCase(r, program, files, join(work, "stacks"), n);
  byFault[c.fault] = (byFault[c.fault] ?? 0) + 1;
  // fd 2 directly: if this case kills the process, the parent still knows which one it was.
  writeSync(2, `case ${n}: ${JSON.stringify(c.argv).slice(0, 300)}\n`);
  const before = treeHash(state);
  let out = "";
  let err = "";
  const capture = (sink: "out" | "err") =>
    ((chunk: string | Uint8Array) => {
      const s = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
      if (sink === "out") out += s;
      else err += s;
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture("out");
  process.stderr.write = capture("err");
  let timer: NodeJS.Timeout | undefined;
  let code: number | "hang";
  try {
    code = await Promise.race([
      main(c.argv, { out: (t) => void (out += t), err: (t) => void (err += t) }),
      new Promise<"hang">((resolve) => (timer = setTimeout(() => resolve("hang"), CASE_BUDGET_MS))),
    ]);
  } finally {
    clearTimeout(timer);
    process.stdout.write = realOut;
    process.stderr.write = realErr;
  }
  const heapMb = process.memoryUsage().heapUsed / 2 ** 20;
  maxHeapMb = Math.max(maxHeapMb, heapMb);
  let why = problem(c, code, out, err);
  if (why === null && treeHash(state) !== before) why = "the state directory changed";
  if (why === null && heapMb > HEAP_BOUND_MB) why = `heap at ${heapMb.toFixed(0)} MB after the case`;
  if (process.env.FUZZ_SHOW !== undefined)
    writeSync(2, `  -> ${String(code)} ${(err + out).slice(0, 300).replace(/\n/g, "⏎")}\n`);
  if (why !== null && failures.length < 50)
    failures.push({
      n,
      fault: c.fault,
      argv: c.argv.map((a) => a.slice(0, 200)),
      problem: why,
      output: (err + out).slice(0, 600),
    });
}
writeSync(1, `${JSON.stringify({ seed, cases: n, failures, byFault, maxHeapMb: Math.round(maxHeapMb) })}\n`);
// Handlers may leave sockets or timers behind (a refused command never should, but a hang above would).
process.exit(0);
