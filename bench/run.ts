import { readFileSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { cpus, totalmem, platform, release } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../base/root.mjs";
import { downEveryPlatform } from "../test/helpers/platform.ts";
import { median, type Benchmark } from "./harness.ts";

const DOC = join(REPO_ROOT, "docs", "benchmarks.md");
const round = (x: number) => Math.round(x * 100) / 100;

export function machine(): string {
  return (
    `${cpus().length} cores (${cpus()[0]?.model.trim() ?? "unknown CPU"}),` +
    ` ${Math.round(totalmem() / 2 ** 30)} GiB, ${platform()} ${release()}, Node ${process.version}`
  );
}

/** Replaces (or appends) the section of one benchmark in docs/benchmarks.md, keeping earlier rows of its history. */
export function record(doc: string, b: Benchmark, row: string): string {
  const start = `<!-- bench:${b.name}:start -->`;
  const end = `<!-- bench:${b.name}:end -->`;
  const header = `| date | command | machine | runs | median | baseline (same run) |\n|---|---|---|---|---|---|`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  let rows: string[] = [];
  if (i >= 0 && j > i) {
    rows = doc
      .slice(i, j)
      .split("\n")
      .filter((l) => l.startsWith("| 20"));
  }
  rows.push(row);
  const section = `${start}\n## ${b.name}\n\n${b.description}\n\n${header}\n${rows.join("\n")}\n${end}`;
  return i >= 0 && j > i ? doc.slice(0, i) + section + doc.slice(j + end.length) : `${doc.trimEnd()}\n\n${section}\n`;
}

async function main(): Promise<number> {
  const name = process.argv[2];
  const available = readdirSync(join(REPO_ROOT, "bench"))
    .filter((f) => f.endsWith(".bench.ts"))
    .map((f) => f.replace(/\.bench\.ts$/, ""));
  if (name === undefined || !available.includes(name)) {
    process.stderr.write(
      `bench: ${name === undefined ? "no benchmark named" : `unknown benchmark "${name}"`}; allowed: ${available.join(", ")}\n`,
    );
    return 2;
  }
  const b = ((await import(join(REPO_ROOT, "bench", `${name}.bench.ts`))) as { default: Benchmark }).default;
  const runs = Math.max(3, b.runs ?? 3);
  const values: number[] = [];
  const baselines: number[] = [];
  const t0 = Date.now();
  const say = (s: string) => process.stderr.write(`[bench ${name} ${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}\n`);
  // One teardown, however many ask: after Ctrl-C the run under way fails too (its helpers got the signal) and its
  // `finally` tears down while the signal handler does; two `imctl local down` at once, the second refused by the
  // platform's lock, left the first unfinished when the handler exited (Redis, Kafka and MariaDB still running).
  let tearing: Promise<void> | undefined;
  const teardown = (): Promise<void> => (tearing ??= Promise.resolve().then(() => b.teardown?.()));
  // Ctrl-C (SIGINT) or SIGTERM: tear the benchmark down (its platform runs in process groups of its own and would
  // outlive this process), then leave with 130. A second signal leaves at once.
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) {
      say(`${sig} again: leaving without finishing the teardown`);
      process.exit(130);
    }
    interrupted = true;
    say(`${sig}: tearing down before leaving (again to leave at once)`);
    void Promise.resolve()
      .then(teardown)
      .catch((err: unknown) => say(`teardown failed: ${(err as Error).message}`))
      .then(() => downEveryPlatform())
      .finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    // Inside the try: a set-up that fails (or is interrupted) is torn down by the one shared teardown below.
    await b.setup?.();
    for (let r = 1; r <= runs; r++) {
      if (b.baseline) {
        const v = await b.baseline(r);
        baselines.push(v);
        say(`run ${r}/${runs} baseline: ${round(v)} ${b.baselineUnit ?? b.unit}`);
      }
      const v = await b.measure(r);
      values.push(v);
      say(`run ${r}/${runs}: ${round(v)} ${b.unit}`);
    }
  } catch (err) {
    // After Ctrl-C the run under way fails too (its load processes got the signal): that is the interruption, not
    // an error of its own; the signal handler leaves with 130 once the teardown is done.
    if (interrupted) {
      await teardown();
      await new Promise(() => undefined);
    }
    throw err;
  } finally {
    await teardown();
  }
  const m = round(median(values));
  const base = baselines.length ? round(median(baselines)) : null;
  const settings = b.settings?.() ?? "";
  const cmd = `${settings === "" ? "" : `${settings} `}npm run bench -- ${name}`;
  const date = new Date().toISOString().slice(0, 10);
  const row =
    `| ${date} | \`${cmd}\` | ${machine()} | ${runs}: ${values.map(round).join(", ")} | ${m} ${b.unit} |` +
    ` ${base === null ? "none" : `${base} ${b.baselineUnit ?? b.unit}`} |`;
  let doc = existsSync(DOC) ? readFileSync(DOC, "utf8") : "# Benchmarks\n";
  doc = record(doc, b, row);
  const extras = b.extra?.() ?? [];
  for (const e of extras) {
    // Extra figures of the same runs (e.g. memory per connection) get a section of their own.
    const extraBench: Benchmark = {
      ...b,
      name: e.name,
      unit: e.unit,
      // The plain command: a setting is named in each row's command column.
      description: `Measured by \`npm run bench -- ${name}\` in the same runs as ${name} (median).`,
    };
    const extraRow =
      `| ${date} | \`${cmd}\` | ${machine()} | ${runs} | ${round(e.value)} ${e.unit} |` +
      ` ${e.baseline === null ? "none" : `${round(e.baseline)} ${e.unit}`} |`;
    doc = record(doc, extraBench, extraRow);
  }
  // BENCH_NO_RECORD=1: an exploratory run (shrunk by a benchmark's own settings) prints its figures only.
  if (process.env.BENCH_NO_RECORD === "1") say("BENCH_NO_RECORD=1: docs/benchmarks.md left as it is");
  else writeFileSync(DOC, doc);
  for (const e of extras)
    process.stdout.write(
      `RESULT ${e.name} ${round(e.value)} ${e.unit} baseline=${e.baseline === null ? "none" : round(e.baseline)}\n`,
    );
  process.stdout.write(`RESULT ${name} ${m} ${b.unit} baseline=${base === null ? "none" : base}\n`);
  return 0;
}

process.exitCode = await main();
