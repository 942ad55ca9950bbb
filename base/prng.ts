/**
 * The project's one seeded generator, mulberry32 (a 32-bit state): the same seed gives the same sequence, so a drill's
 * `--seed N` picks the same instance again and a property test or fuzz run that fails names the seed that replays it.
 * Good enough for test inputs and picks; not for anything secret.
 */

export interface Rng {
  /** The next unsigned 32-bit integer. */
  u32(): number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max], both inclusive. */
  int(min: number, max: number): number;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** True or false, evenly. */
  bool(): boolean;
}

export function rng(seed: number): Rng {
  // Kept as given until the first step, so (seed + increment) >>> 0 is exact for every seed a caller passes.
  let state = seed;
  const u32 = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const next = () => u32() / 4294967296;
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    u32,
    next,
    int,
    pick: <T>(items: readonly T[]): T => {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new RangeError("pick from an empty list");
      return item;
    },
    chance: (p: number) => next() < p,
    bool: () => next() < 0.5,
  };
}
