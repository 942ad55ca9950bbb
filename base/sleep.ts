/** Resolves after `ms` milliseconds: the one sleep every part of the project uses. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
