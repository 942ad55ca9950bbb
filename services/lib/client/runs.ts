/**
 * The pushed messages a client may take as they are (docs/messaging.md#pushes): those that continue its position `at`
 * (its last inbox seq, or its cursor in a group) without a gap, in order. Those at or below `at` are already had; the
 * first one beyond the next position ends the run, and the client pulls the rest.
 */
export function continuing<T>(msgs: readonly T[], at: number, posOf: (m: T) => number): T[] {
  const out: T[] = [];
  let next = at + 1;
  for (const m of msgs) {
    const pos = posOf(m);
    if (pos < next) continue;
    if (pos > next) break;
    out.push(m);
    next++;
  }
  return out;
}
