/**
 * Benchmarks: each `bench/<name>.ts` exports a Benchmark. `npm run bench -- <name>` runs it at least three times
 * (its baseline interleaved, measured in the same run), prints progress, ends with
 * `RESULT <name> <median> <unit> baseline=<median|none>`, and records the run in docs/benchmarks.md.
 */
export interface Benchmark {
  name: string;
  unit: string;
  /** What is measured and what the target is, for docs/benchmarks.md. */
  description: string;
  /** Lower is better (seconds, KB) or higher is better (messages per second). */
  better: "lower" | "higher";
  /** Runs at least 3. */
  runs?: number;
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
  measure: (run: number) => Promise<number>;
  /** The baseline's unit when it differs from `unit` (overload: % of the sustained msg/s measured as baseline). */
  baselineUnit?: string;
  /** The same work done the plain way, measured in the same run; absent when no fair baseline exists. */
  baseline?: (run: number) => Promise<number>;
  /**
   * Settings of the environment that change what is measured, recorded before the command in docs/benchmarks.md
   * (`BENCH_GROUP_FANOUT_INSTANCE_CPU=0.5 npm run bench -- group-fanout`); empty or absent: none.
   */
  settings?: () => string;
  /** Extra RESULT lines (e.g. memory per connection next to connection count). */
  extra?: () => Array<{ name: string; value: number; unit: string; baseline: number | null }>;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}
