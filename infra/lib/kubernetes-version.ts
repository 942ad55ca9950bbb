/**
 * Kubernetes versions as the clouds name them. A stack names a minor ("1.31"); ACK creates clusters only at the full
 * versions it currently offers ("1.31.1-aliyun.1"), so the program picks the newest offered patch of that minor and
 * refuses a minor ACK does not offer. Pure.
 */

/** The newest version of `minor` among `offered` (ACK's "1.31.1-aliyun.1" style), or undefined when none is offered. */
export function newestPatch(minor: string, offered: readonly string[]): string | undefined {
  const patch = (v: string) => Number(/^\d+\.\d+\.(\d+)/.exec(v)?.[1] ?? -1);
  const build = (v: string) => Number(/-aliyun\.(\d+)$/.exec(v)?.[1] ?? 0);
  return offered
    .filter((v) => v.startsWith(`${minor}.`) && patch(v) >= 0)
    .sort((a, b) => patch(b) - patch(a) || build(b) - build(a))[0];
}

/** The one line for a minor the cloud does not offer. */
export function unofferedVersion(field: string, minor: string, offered: readonly string[]): string {
  const minors = [...new Set(offered.map((v) => /^(\d+\.\d+)\./.exec(v)?.[1]).filter(Boolean))].join(", ");
  return `${field}: got "${minor}"; ACK offers ${minors || "no version"} in this region`;
}
