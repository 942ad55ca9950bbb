/**
 * Issue 24's fuzz test: seeded command lines over imctl's command table and stack files mutated against the schema
 * (cases.ts), run through imctl's main() in a worker process with a bounded heap (worker.ts). Every case must end in
 * its expected exit (2 for the refused, 0 for help and list) with at most 3 lines, no stack trace, the heap under its
 * bound and the state directory unchanged.
 *
 * In `npm test` it runs a fixed seed for at most FUZZ_SECONDS (default 30) or FUZZ_CASES (default 400) cases; a
 * longer run: FUZZ_SEED=7 FUZZ_CASES=20000 FUZZ_SECONDS=1800 node --import tsx --test test/fuzz/imctl-fuzz.test.ts
 * A failure prints the seed and the case number, which replay it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { it } from "node:test";
import { execa } from "execa";
import { REPO_ROOT } from "../../base/root.mjs";
import { tempDir } from "../helpers/imctl.ts";

const seed = Number(process.env.FUZZ_SEED ?? 24);
const cases = Number(process.env.FUZZ_CASES ?? 400);
const seconds = Number(process.env.FUZZ_SECONDS ?? 30);
/** The worker's heap: a case that allocates per replica (issue 24's OOM) dies here instead of passing. */
const HEAP_MB = 384;

interface Summary {
  seed: number;
  cases: number;
  failures: Array<{ n: number; fault: string; argv: string[]; problem: string; output: string }>;
  byFault: Record<string, number>;
  maxHeapMb: number;
}

it(
  `imctl refuses every fuzzed input in one line and changes nothing (seed ${seed})`,
  { timeout: (seconds + 60) * 1000 },
  async () => {
    const work = tempDir("fuzz");
    const r = await execa(
      process.execPath,
      [
        "--import",
        "tsx",
        `--max-old-space-size=${HEAP_MB}`,
        join(REPO_ROOT, "test", "fuzz", "worker.ts"),
        String(seed),
        String(cases),
        String(seconds),
        work,
      ],
      { reject: false, cwd: REPO_ROOT, stdin: "ignore", timeout: (seconds + 45) * 1000 },
    );
    const lastCase =
      String(r.stderr)
        .trimEnd()
        .split("\n")
        .filter((l) => l.startsWith("case "))
        .at(-1) ?? "none";
    assert.equal(
      r.exitCode,
      0,
      `the fuzz worker died (seed ${seed}, last ${lastCase}): ${String(r.stderr).slice(-1500)}`,
    );
    const s = JSON.parse(String(r.stdout)) as Summary;
    process.stdout.write(
      `# fuzz seed ${s.seed}: ${s.cases} cases, max heap ${s.maxHeapMb} MB, ${JSON.stringify(s.byFault)}\n`,
    );
    assert.ok(s.cases >= Math.min(cases, 50), `only ${s.cases} cases ran in ${seconds} s`);
    assert.deepEqual(
      s.failures.map(
        (f) => `case ${f.n} (${f.fault}): ${f.problem}: imctl ${f.argv.join(" ").slice(0, 300)} -> ${f.output}`,
      ),
      [],
      `seed ${seed}`,
    );
    // Every kind of fault was tried at least once, so the generator cannot quietly shrink to one kind.
    for (const kind of [
      "unknown option",
      "bad stack file",
      "junk argument",
      "extra argument",
      "missing argument",
      "help",
    ])
      assert.ok((s.byFault[kind] ?? 0) > 0 || s.cases < 200, `no "${kind}" case in ${s.cases}`);
  },
);
