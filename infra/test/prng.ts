/**
 * A tiny seeded generator for property tests: the same seed gives the same cases, so a failure names the seed and
 * case number that reproduce it. The generator is the project's one seeded PRNG (base/prng.ts, mulberry32).
 * Set PROPERTY_SEED to replay one seed; PROPERTY_RUNS to run more cases.
 */

import { rng, type Rng } from "../../base/prng.ts";

export { rng, type Rng };

/**
 * Run `check` on `runs` generated cases. A failing case is rethrown with the seed and case index that reproduce it
 * (`PROPERTY_SEED=<seed>` replays exactly that sequence).
 */
export function forAll<T>(
  gen: (r: Rng) => T,
  check: (value: T) => void,
  opts: { runs?: number; seed?: number } = {},
): void {
  const seed = Number(process.env.PROPERTY_SEED ?? opts.seed ?? 20240601);
  const runs = Number(process.env.PROPERTY_RUNS ?? opts.runs ?? 300);
  const r = rng(seed);
  for (let i = 0; i < runs; i++) {
    const value = gen(r);
    try {
      check(value);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`property failed at case ${i} (PROPERTY_SEED=${seed}) for ${JSON.stringify(value)}: ${why}`, {
        cause: err,
      });
    }
  }
}
