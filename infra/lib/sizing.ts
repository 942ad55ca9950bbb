/**
 * Sizing: how many canary pods carry a weight, how replicas spread over zones, how much a PodDisruptionBudget
 * may take down, and whether the node groups hold the services at their autoscalers' ceilings. Pure.
 */
import { INSTANCES, type InstanceShape } from "./pricing.ts";
import type { CloudName } from "./regions.ts";

/**
 * Canary pods for a traffic weight: none at 0 %, as many as stable at 100 %, otherwise enough that the canary's
 * share of pods is at least the weight (an internal Service splits by pod count) and never fewer than one.
 */
export function canaryReplicas(stableReplicas: number, weightPercent: number): number {
  if (!Number.isInteger(stableReplicas) || stableReplicas < 0)
    throw new RangeError(`stable replicas: got ${stableReplicas}; allowed a whole number from 0`);
  if (!Number.isInteger(weightPercent) || weightPercent < 0 || weightPercent > 100)
    throw new RangeError(`weight: got ${weightPercent}; allowed 0 to 100`);
  if (weightPercent === 0 || stableReplicas === 0) return 0;
  if (weightPercent === 100) return stableReplicas;
  // canary / (stable + canary) >= w  <=>  canary >= stable * w / (1 - w)
  return Math.max(1, Math.ceil((stableReplicas * weightPercent) / (100 - weightPercent)));
}

/** Replicas per zone when a topology spread with maxSkew 1 places them: as even as possible, earlier zones first. */
export function zoneSpread(replicas: number, zones: number): number[] {
  if (!Number.isInteger(zones) || zones < 1) throw new RangeError(`zones: got ${zones}; allowed a whole number from 1`);
  const base = Math.floor(replicas / zones);
  return Array.from({ length: zones }, (_, i) => base + (i < replicas % zones ? 1 : 0));
}

/**
 * How many pods a voluntary disruption (a node drain, a cluster upgrade) may take at once: one zone's share of the
 * replicas, at least one. Draining a zone's nodes then proceeds while the other zones keep serving, and a single
 * replica can still be drained (0 would block every node upgrade).
 */
export function pdbMaxUnavailable(replicas: number, zones: number): number {
  if (!Number.isInteger(zones) || zones < 1) throw new RangeError(`zones: got ${zones}; allowed a whole number from 1`);
  return Math.max(1, Math.floor(replicas / zones));
}

export interface PodDemand {
  pods: number;
  cpuMillis: number;
  memoryMiB: number;
}

export interface WorkloadSize {
  replicas: number;
  maxReplicas: number;
  cpuMillis: number;
  memoryMiB: number;
}

/** Total requests of the services at their floor (spec replicas) and at their autoscalers' ceilings. */
export function serviceDemand(workloads: readonly WorkloadSize[]): { floor: PodDemand; ceiling: PodDemand } {
  const sum = (pick: (w: WorkloadSize) => number): PodDemand => ({
    pods: workloads.reduce((n, w) => n + pick(w), 0),
    cpuMillis: workloads.reduce((n, w) => n + pick(w) * w.cpuMillis, 0),
    memoryMiB: workloads.reduce((n, w) => n + pick(w) * w.memoryMiB, 0),
  });
  return { floor: sum((w) => w.replicas), ceiling: sum((w) => w.maxReplicas) };
}

/**
 * Share of a node left for pods after the kubelet, the system reservation and the DaemonSets (CNI, kube-proxy,
 * log and metrics agents): a planning figure, not a vendor number.
 */
export const ALLOCATABLE = { cpu: 0.85, memory: 0.8 } as const;

/** Nodes of `shape` that hold `demand` (by CPU or memory, whichever runs out first); at least one per zone. */
export function nodesFor(demand: PodDemand, shape: InstanceShape, zones: number): number {
  const byCpu = demand.cpuMillis / (shape.vcpu * 1000 * ALLOCATABLE.cpu);
  const byMemory = demand.memoryMiB / (shape.memoryGiB * 1024 * ALLOCATABLE.memory);
  const nodes = Math.ceil(Math.max(byCpu, byMemory, 0));
  // Round up to a multiple of the zones: node groups spread evenly, and a topology spread needs room in each.
  return Math.max(zones, Math.ceil(nodes / zones) * zones);
}

export interface CapacityCheck {
  cloud: CloudName;
  instanceType: string;
  /** Null when the instance type has no shape in infra/lib/pricing.ts. */
  nodesAtFloor: number | null;
  nodesAtCeiling: number | null;
  desired: number;
  max: number;
  /** The app node group's max holds every service at its autoscaler's ceiling. */
  fits: boolean | null;
}

/** Whether a cloud's app node group can hold the services, at the floor and at the ceilings. */
export function checkCapacity(
  cloud: CloudName,
  nodeGroup: { instanceType: string; desired: number; max: number },
  workloads: readonly WorkloadSize[],
  zones: number,
): CapacityCheck {
  const shape = INSTANCES[cloud][nodeGroup.instanceType];
  const base = { cloud, instanceType: nodeGroup.instanceType, desired: nodeGroup.desired, max: nodeGroup.max };
  if (shape === undefined) return { ...base, nodesAtFloor: null, nodesAtCeiling: null, fits: null };
  const { floor, ceiling } = serviceDemand(workloads);
  const nodesAtFloor = nodesFor(floor, shape, zones);
  const nodesAtCeiling = nodesFor(ceiling, shape, zones);
  return { ...base, nodesAtFloor, nodesAtCeiling, fits: nodesAtCeiling <= nodeGroup.max };
}
