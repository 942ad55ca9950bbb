/**
 * A tiny seeded generator for property tests: the same seed gives the same cases, so a failure names the seed and
 * case number that reproduce it. The mixing function is mulberry32 (a 32-bit state, good enough for test inputs).
 * Set PROPERTY_SEED to replay one seed; PROPERTY_RUNS to run more cases.
 */

export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max], both inclusive. */
  int(min: number, max: number): number;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  bool(): boolean;
}

export function rng(seed: number): Rng {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new RangeError("pick from an empty list");
      return item;
    },
    bool: () => next() < 0.5,
  };
}

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
