/** Reading the untyped resource properties the policy engine hands over. Pure. */

/** Resource properties as the engine hands them over: untyped provider inputs, read through `at`. */
export type Props = Record<string, unknown>;

/** The value at a dotted path ("encryptionInfo.encryptionInTransit.clientBroker"), or undefined. */
export function at(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
