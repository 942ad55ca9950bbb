/**
 * The doctor's checks of a kubernetes target, as pure functions from the objects the API server returns (the
 * @kubernetes/client-node 1.3.0 models) to component rows and platform checks. Reading them is health.ts's job; the
 * unit tests feed plain objects. Every row names the object (namespace/name) and the numbers behind its verdict.
 */
import { X509Certificate } from "node:crypto";
import type {
  V1Deployment,
  V1Node,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodDisruptionBudget,
  V1Secret,
  V1StatefulSet,
  V2HorizontalPodAutoscaler,
} from "@kubernetes/client-node";
import type { CertificateFact, ComponentHealth, PlatformCheck } from "../target.ts";

/** The label the platform's program puts on every namespace it creates. */
export const PART_OF_LABEL = "app.kubernetes.io/part-of";
export const PART_OF_VALUE = "im-platform";
/**
 * Namespaces the platform's program shares between its layers (the in-cluster data tier, the monitoring stack),
 * checked beside the stack's own namespace when they exist and carry PART_OF_LABEL. Not every namespace with the
 * label: another copy of the platform in the same cluster (staging beside production, the tests' simulated copy)
 * carries it too, and its health is not this stack's.
 */
export const SHARED_NAMESPACES = ["im-data", "monitoring"] as const;

/** A pod Pending longer than this is reported (the scheduler and the kubelet normally act within seconds). */
export const PENDING_GRACE_SECONDS = 60;
/** A container restarted within this window is reported as a warning (a one-off crash, or a loop in between). */
export const RECENT_RESTART_SECONDS = 600;

/** Waiting reasons of a container that will not start without someone acting: each fails the pod's check. */
export const STUCK_REASONS: readonly string[] = [
  "CrashLoopBackOff",
  "ImagePullBackOff",
  "ErrImagePull",
  "ErrImageNeverPull",
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
];

const ref = (o: { metadata?: { namespace?: string; name?: string } }) =>
  `${o.metadata?.namespace ?? "?"}/${o.metadata?.name ?? "?"}`;

const clip = (s: string | undefined, n = 160) => (s === undefined || s.length <= n ? (s ?? "") : `${s.slice(0, n)}…`);

function age(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

const secondsSince = (t: Date | undefined, now: Date) =>
  t === undefined ? undefined : (now.getTime() - new Date(t).getTime()) / 1000;

/** The stack's namespace, then the shared ones that exist and belong to the platform (null labels: not found). */
export function platformNamespaces(
  own: string,
  shared: Array<{ name: string; labels: Record<string, string> | null }>,
): string[] {
  return [
    own,
    ...shared.filter((n) => n.name !== own && n.labels?.[PART_OF_LABEL] === PART_OF_VALUE).map((n) => n.name),
  ];
}

/**
 * A Deployment is healthy at its desired Ready count with every replica on the current template and the
 * controller caught up with the last change; 0 desired (a canary at rest) is healthy.
 */
export function deploymentHealth(d: V1Deployment): ComponentHealth {
  const id = ref(d);
  const desired = d.spec?.replicas ?? 1;
  const ready = d.status?.readyReplicas ?? 0;
  const updated = d.status?.updatedReplicas ?? 0;
  const generation = d.metadata?.generation ?? 0;
  const observed = d.status?.observedGeneration ?? 0;
  if (desired === 0 && observed >= generation)
    return { id, group: "deployment", healthy: true, detail: "0 desired (scaled to zero)" };
  const parts = [`${ready}/${desired} ready`, `${updated} updated`];
  if (observed < generation) parts.push(`generation ${generation} not yet observed (controller at ${observed})`);
  const stalled = d.status?.conditions?.find((c) => c.type === "Progressing" && c.status === "False");
  if (stalled) parts.push(`Progressing=False ${stalled.reason ?? ""}: ${clip(stalled.message)}`);
  const healthy = ready >= desired && updated >= desired && observed >= generation;
  return { id, group: "deployment", healthy, detail: parts.join(", ") };
}

/** A StatefulSet is healthy at its desired Ready count, on its update revision, with the controller caught up. */
export function statefulSetHealth(s: V1StatefulSet): ComponentHealth {
  const id = ref(s);
  const desired = s.spec?.replicas ?? 1;
  const ready = s.status?.readyReplicas ?? 0;
  const updated = s.status?.updatedReplicas ?? 0;
  const generation = s.metadata?.generation ?? 0;
  const observed = s.status?.observedGeneration ?? 0;
  const rolling = s.status?.updateRevision !== undefined && s.status.updateRevision !== s.status.currentRevision;
  const parts = [`${ready}/${desired} ready`];
  if (rolling) parts.push(`${updated} on revision ${s.status?.updateRevision}`);
  if (observed < generation) parts.push(`generation ${generation} not yet observed (controller at ${observed})`);
  const healthy = ready >= desired && observed >= generation && (!rolling || updated >= desired);
  return { id, group: "statefulset", healthy, detail: parts.join(", ") };
}

/**
 * A PodDisruptionBudget that allows no disruption blocks every node drain (an upgrade, a scale-in, a zone
 * evacuation) until someone acts: that fails, unless it wants no pod healthy at all.
 */
export function pdbCheck(p: V1PodDisruptionBudget): PlatformCheck {
  const name = `pdb ${ref(p)}`;
  const s = p.status;
  if (s === undefined)
    return { name, ok: true, note: "warn", detail: "no status yet (the disruption controller has not seen it)" };
  const detail =
    `${s.disruptionsAllowed} disruption(s) allowed, ${s.currentHealthy}/${s.expectedPods} pod(s) healthy, ` +
    `${s.desiredHealthy} required`;
  if (s.desiredHealthy === 0) return { name, ok: true, detail: `${detail} (requires none)` };
  if (s.disruptionsAllowed >= 1) return { name, ok: true, detail };
  return { name, ok: false, detail: `${detail}: allows no disruption, so a node drain blocks on it` };
}

/** The message of a controller that cannot read the resource metrics API (no metrics-server in the cluster). */
const NO_METRICS_API = /unable to (get|fetch) metrics|metrics API|metrics\.k8s\.io|no metrics returned/i;

/**
 * An autoscaler that cannot scale fails with the controller's reason, except when the cluster serves no resource
 * metrics (no metrics-server, as on the embedded cluster): that warns, since the HPA then holds its Deployment where
 * it is and nothing the platform itself did is wrong. At its maximum it warns: load above that is not absorbed.
 */
export function hpaCheck(h: V2HorizontalPodAutoscaler): PlatformCheck {
  const name = `hpa ${ref(h)}`;
  const min = h.spec?.minReplicas ?? 1;
  const max = h.spec?.maxReplicas ?? 0;
  const current = h.status?.currentReplicas ?? 0;
  const target = h.spec?.scaleTargetRef;
  const size = `${current} replica(s) of ${target?.kind ?? "?"} ${target?.name ?? "?"} (min ${min}, max ${max})`;
  const cond = (type: string) => h.status?.conditions?.find((c) => c.type === type);
  const able = cond("AbleToScale");
  if (able?.status === "False")
    return { name, ok: false, detail: `${size}: AbleToScale=False ${able.reason ?? ""}: ${clip(able.message)}` };
  const active = cond("ScalingActive");
  if (active?.status === "False") {
    const why = `ScalingActive=False ${active.reason ?? ""}: ${clip(active.message)}`;
    if (NO_METRICS_API.test(active.message ?? "")) {
      const detail = `${size}: cannot read resource metrics (is metrics-server installed?), so it does not scale`;
      return { name, ok: true, note: "warn", detail: `${detail} (ScalingActive=False ${active.reason ?? ""})` };
    }
    return { name, ok: false, detail: `${size}: ${why}` };
  }
  if (max > 0 && current >= max)
    return { name, ok: true, note: "warn", detail: `${size}: at its maximum, load above this is not absorbed` };
  return { name, ok: true, detail: size };
}

/** The workload behind a pod, e.g. "Deployment im/gateway-canary" (its ReplicaSet's name minus the template hash). */
export function podOwner(p: V1Pod): string {
  const owner = p.metadata?.ownerReferences?.find((o) => o.controller) ?? p.metadata?.ownerReferences?.[0];
  const ns = p.metadata?.namespace ?? "?";
  if (owner === undefined) return "no owner";
  const hash = p.metadata?.labels?.["pod-template-hash"];
  if (owner.kind === "ReplicaSet" && hash !== undefined && owner.name.endsWith(`-${hash}`))
    return `Deployment ${ns}/${owner.name.slice(0, -hash.length - 1)}`;
  return `${owner.kind} ${ns}/${owner.name}`;
}

/**
 * The pods that need someone: a container stuck in a waiting reason it will not leave by itself (a crash loop, an
 * image that cannot be pulled, a missing Secret key) fails; a pod Pending past the grace period fails when the
 * scheduler could not place it (with the scheduler's words) and warns otherwise; a restart within the last ten
 * minutes warns. Healthy pods make no row (the workload rows count them); finished and terminating pods are skipped.
 */
export function podChecks(pods: V1Pod[], now: Date): PlatformCheck[] {
  const out: PlatformCheck[] = [];
  for (const p of pods) {
    const phase = p.status?.phase;
    if (p.metadata?.deletionTimestamp || phase === "Succeeded" || phase === "Failed") continue;
    const name = `pod ${ref(p)}`;
    const owner = podOwner(p);
    const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
    const stuck = statuses.filter((c) => STUCK_REASONS.includes(c.state?.waiting?.reason ?? ""));
    if (stuck.length > 0) {
      const what = stuck.map(
        (c) =>
          `container ${c.name} ${c.state?.waiting?.reason}${c.state?.waiting?.message ? ` (${clip(c.state.waiting.message, 120)})` : ""}, ` +
          `${c.restartCount} restart(s)`,
      );
      out.push({ name, ok: false, detail: `${owner}: ${what.join("; ")}` });
      continue;
    }
    const pendingFor = phase === "Pending" ? secondsSince(p.metadata?.creationTimestamp, now) : undefined;
    if (pendingFor !== undefined && pendingFor > PENDING_GRACE_SECONDS) {
      const scheduled = p.status?.conditions?.find((c) => c.type === "PodScheduled");
      if (scheduled?.status !== "True") {
        const why = scheduled
          ? `${scheduled.reason ?? ""}: ${clip(scheduled.message, 240)}`
          : "no scheduling decision yet";
        out.push({ name, ok: false, detail: `${owner}: Pending for ${age(pendingFor)}, not scheduled (${why})` });
      } else {
        const waiting = statuses
          .filter((c) => c.state?.waiting)
          .map((c) => `container ${c.name} ${c.state?.waiting?.reason ?? "waiting"}`);
        const on = p.spec?.nodeName ? ` on ${p.spec.nodeName}` : "";
        const detail = `${owner}: Pending for ${age(pendingFor)}${on}${waiting.length ? ` (${waiting.join(", ")})` : ""}`;
        out.push({ name, ok: true, note: "warn", detail });
      }
      continue;
    }
    const recent = statuses.filter((c) => {
      const since = secondsSince(c.lastState?.terminated?.finishedAt, now);
      return c.restartCount > 0 && since !== undefined && since < RECENT_RESTART_SECONDS;
    });
    if (recent.length > 0) {
      const what = recent.map((c) => {
        const t = c.lastState?.terminated;
        const since = secondsSince(t?.finishedAt, now) ?? 0;
        return `container ${c.name} restarted ${c.restartCount} time(s), last ${age(since)} ago (exit code ${t?.exitCode}${t?.reason ? `, ${t.reason}` : ""})`;
      });
      out.push({ name, ok: true, note: "warn", detail: `${owner}: ${what.join("; ")}` });
    }
  }
  return out;
}

/** NotReady fails; memory, disk or PID pressure and a cordon warn (the node still runs its pods). */
export function nodeChecks(nodes: V1Node[]): PlatformCheck[] {
  if (nodes.length === 0) return [{ name: "nodes", ok: false, detail: "the cluster has no node" }];
  return nodes.map((n): PlatformCheck => {
    const name = `node ${n.metadata?.name ?? "?"}`;
    const conditions = n.status?.conditions ?? [];
    const ready = conditions.find((c) => c.type === "Ready");
    if (ready?.status !== "True")
      return {
        name,
        ok: false,
        detail: `NotReady (Ready=${ready?.status ?? "unset"}${ready?.reason ? ` ${ready.reason}` : ""}${ready?.message ? `: ${clip(ready.message)}` : ""})`,
      };
    const pressure = conditions
      .filter((c) => ["MemoryPressure", "DiskPressure", "PIDPressure"].includes(c.type) && c.status === "True")
      .map((c) => c.type);
    const problems = [...pressure, ...(n.spec?.unschedulable ? ["cordoned (unschedulable)"] : [])];
    if (problems.length > 0) return { name, ok: true, note: "warn", detail: `Ready, ${problems.join(", ")}` };
    return { name, ok: true, detail: "Ready" };
  });
}

/**
 * Volume claims: Bound is ok, Pending warns (its pod stays Pending, which the pod check fails after the grace
 * period), Lost fails (the volume behind it is gone).
 */
export function pvcChecks(claims: V1PersistentVolumeClaim[]): PlatformCheck[] {
  return claims.map((c): PlatformCheck => {
    const name = `pvc ${ref(c)}`;
    const phase = c.status?.phase ?? "Pending";
    const size = c.status?.capacity?.storage ?? c.spec?.resources?.requests?.storage ?? "?";
    const detail = `${phase}, ${size}${c.spec?.storageClassName ? `, storage class ${c.spec.storageClassName}` : ""}`;
    if (phase === "Bound") return { name, ok: true, detail };
    if (phase === "Lost") return { name, ok: false, detail: `${detail}: its volume is gone` };
    return { name, ok: true, note: "warn", detail: `${detail}: not bound to a volume yet` };
  });
}

/** The leaf certificate of a `kubernetes.io/tls` Secret (its `tls.crt`, base64 in the API's data). */
export function secretCertificate(s: V1Secret): CertificateFact {
  const endpoint = `secret ${ref(s)}`;
  const pem = s.data?.["tls.crt"];
  if (pem === undefined || pem === "") return { endpoint, error: "no tls.crt in the Secret" };
  try {
    const cert = new X509Certificate(Buffer.from(pem, "base64"));
    return { endpoint, validTo: new Date(cert.validTo) };
  } catch (err) {
    return {
      endpoint,
      error: `tls.crt is not a PEM certificate (${err instanceof Error ? err.message : String(err)})`,
    };
  }
}
