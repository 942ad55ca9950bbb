/**
 * The policy pack, applied to what the real engine is about to do. The engine cannot load the pack as a policy
 * plugin here: its runner (from @pulumi/pulumi 3.248) registers ts-node and ignores `typescript: false`, which fails
 * on the pack's `.ts` imports ("TS5097"), and under tsx it fails with "__filename is not defined in ES module
 * scope"; the nodejs language host it would also need is not installable on this machine. So imctl runs a preview
 * first, collects every resource the engine registered (its type, name and the inputs the provider checked), runs
 * the same policy functions over them (infra/policy/evaluate.ts, as `imctl plan` does), and refuses the update when
 * one fails: nothing has been created at that point.
 */
import type { EngineEvent, OpType } from "@pulumi/pulumi/automation/index.js";
import { evaluatePolicies, POLICY_NAMES, type PolicyInput, type Violation } from "../../../infra/policy/evaluate.ts";

/** Operations after which the resource exists in the stack (deletes and reads are left out). */
const KEPT: ReadonlySet<OpType> = new Set<OpType>(["create", "update", "same", "replace", "create-replacement"]);

/** Collects the engine's resource registrations from a preview's events. */
export class RegistrationLog {
  private readonly byUrn = new Map<string, PolicyInput>();

  readonly onEvent = (ev: EngineEvent): void => {
    const m = ev.resourcePreEvent?.metadata;
    if (m === undefined || !KEPT.has(m.op)) return;
    const state = m.new;
    if (state === undefined) return;
    const type = state.type || m.type;
    // Pulumi's own resources (the stack, providers) are not the platform's.
    if (type === "pulumi:pulumi:Stack" || type.startsWith("pulumi:providers:")) return;
    this.byUrn.set(m.urn, { type, name: nameOf(m.urn), props: state.inputs ?? {}, id: state.id || undefined });
  };

  get resources(): PolicyInput[] {
    return [...this.byUrn.values()];
  }
}

/** The last segment of a URN (urn:pulumi:<stack>::<project>::<type chain>::<name>). */
export function nameOf(urn: string): string {
  const parts = urn.split("::");
  return parts[parts.length - 1] ?? urn;
}

export interface PolicyVerdict {
  /** How the pack ran: on the engine's registrations from the preview, by imctl (see the header for why). */
  mode: "imctl-on-engine-registrations";
  policies: readonly string[];
  resources: number;
  violations: Violation[];
}

export function judge(log: RegistrationLog): PolicyVerdict {
  const resources = log.resources;
  return {
    mode: "imctl-on-engine-registrations",
    policies: POLICY_NAMES,
    resources: resources.length,
    violations: evaluatePolicies(resources),
  };
}
