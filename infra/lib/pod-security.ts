/**
 * The Pod Security Standards' `restricted` level (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
 * as data and as a check. Every namespace the platform runs pods in enforces it (`pod-security.kubernetes.io/enforce:
 * restricted`), so a pod template that breaks one rule is refused by the API server only when its pods are created,
 * long after `pulumi up` accepted the Deployment. The policy `im-pod-security-restricted` runs `podSecurityProblems`
 * over every workload before anything is created; the components build their contexts from the constants below.
 * Pure: no Pulumi import.
 */

/** The labels that make a namespace enforce (and audit and warn about) the restricted level. */
export const RESTRICTED_NAMESPACE_LABELS: Readonly<Record<string, string>> = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/audit": "restricted",
  "pod-security.kubernetes.io/warn": "restricted",
};

/**
 * For a namespace whose pods operators make (Strimzi's brokers, TiDB Operator's PD/TiKV/TiDB): enforce baseline (no
 * privileged pod, host namespace or host path), audit and warn at restricted. Whether an operator's pods pass
 * restricted depends on how it was installed (Strimzi's restricted pod security provider, TiDB's pod security
 * contexts), which the program cannot see on a preinstalled operator; the platform's own pods there pass restricted.
 */
export const OPERATOR_NAMESPACE_LABELS: Readonly<Record<string, string>> = {
  "pod-security.kubernetes.io/enforce": "baseline",
  "pod-security.kubernetes.io/audit": "restricted",
  "pod-security.kubernetes.io/warn": "restricted",
};

/** A pod-level securityContext that passes the restricted level, running as `uid` (never 0). */
export function restrictedPodSecurityContext(uid: number) {
  if (!Number.isInteger(uid) || uid <= 0) throw new RangeError(`uid: got ${uid}; expected a non-root user id (> 0)`);
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    fsGroup: uid,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** A container-level securityContext that passes the restricted level (with a read-only root filesystem). */
export function restrictedContainerSecurityContext() {
  return { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } };
}

/** Volume types the restricted level allows. */
const ALLOWED_VOLUME_TYPES = new Set([
  "configMap",
  "csi",
  "downwardAPI",
  "emptyDir",
  "ephemeral",
  "persistentVolumeClaim",
  "projected",
  "secret",
]);
/** The only capability a restricted container may add. */
const ALLOWED_ADDED_CAPABILITIES = new Set(["NET_BIND_SERVICE"]);
const SECCOMP_OK = new Set(["RuntimeDefault", "Localhost"]);

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/**
 * What keeps a pod spec (a workload's `spec.template.spec`) from the restricted level, one line per rule and
 * container; empty when it passes. Container settings override the pod's, as the API server reads them.
 */
export function podSecurityProblems(podSpec: unknown): string[] {
  const pod = obj(podSpec);
  const problems: string[] = [];
  for (const field of ["hostNetwork", "hostPID", "hostIPC"] as const) {
    if (pod[field] === true) problems.push(`${field} must not be true`);
  }
  for (const v of arr(pod.volumes)) {
    const volume = obj(v);
    const kind = Object.keys(volume).find((k) => k !== "name");
    if (kind !== undefined && !ALLOWED_VOLUME_TYPES.has(kind))
      problems.push(
        `volume ${String(volume.name)}: type ${kind} is not allowed (allowed: ${[...ALLOWED_VOLUME_TYPES].join(", ")})`,
      );
  }
  const podCtx = obj(pod.securityContext);
  const podSeccomp = obj(podCtx.seccompProfile).type;
  if (podSeccomp !== undefined && !SECCOMP_OK.has(String(podSeccomp)))
    problems.push(`securityContext.seccompProfile.type ${String(podSeccomp)}: must be RuntimeDefault or Localhost`);
  if (podCtx.runAsUser === 0) problems.push("securityContext.runAsUser must not be 0");
  const containers = [
    ...arr(pod.initContainers).map((c) => ["initContainer", c] as const),
    ...arr(pod.containers).map((c) => ["container", c] as const),
    ...arr(pod.ephemeralContainers).map((c) => ["ephemeralContainer", c] as const),
  ];
  for (const [kind, raw] of containers) {
    const c = obj(raw);
    const where = `${kind} ${String(c.name)}`;
    const ctx = obj(c.securityContext);
    if (ctx.privileged === true) problems.push(`${where}: privileged must not be true`);
    if (ctx.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation must be false`);
    const runAsNonRoot = ctx.runAsNonRoot ?? podCtx.runAsNonRoot;
    if (runAsNonRoot !== true) problems.push(`${where}: runAsNonRoot must be true (pod or container)`);
    if (ctx.runAsUser === 0) problems.push(`${where}: runAsUser must not be 0`);
    // A bad pod-level profile is reported once, above; a container's own profile overrides it.
    const seccomp = obj(ctx.seccompProfile).type;
    if (seccomp === undefined ? podSeccomp === undefined : !SECCOMP_OK.has(String(seccomp)))
      problems.push(`${where}: seccompProfile.type must be RuntimeDefault or Localhost (pod or container)`);
    const caps = obj(ctx.capabilities);
    if (!arr(caps.drop).includes("ALL")) problems.push(`${where}: capabilities.drop must include ALL`);
    const added = arr(caps.add).filter((a) => !ALLOWED_ADDED_CAPABILITIES.has(String(a)));
    if (added.length > 0) problems.push(`${where}: capabilities.add ${added.join(", ")}: only NET_BIND_SERVICE`);
    for (const p of arr(c.ports)) {
      const hostPort = obj(p).hostPort;
      if (typeof hostPort === "number" && hostPort !== 0)
        problems.push(`${where}: hostPort ${hostPort} is not allowed`);
    }
  }
  return problems;
}
