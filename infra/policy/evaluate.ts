/**
 * Runs the policy pack's own functions over resources recorded by a mocked run (infra/mocks.ts), the way the
 * Pulumi engine would call them: each resource policy once per resource, each stack policy once over all. Used by
 * the policy tests and by `imctl plan`; a real preview runs the pack itself (infra/policy/index.ts).
 */
import type {
  PolicyResource,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationPolicy,
} from "@pulumi/policy";
import { POLICIES } from "./policies.ts";

/** What a policy sees of one resource. */
export interface PolicyInput {
  type: string;
  name: string;
  props: Record<string, unknown>;
  /** The id the mocks assigned, so stack policies can match a resource referenced by id. */
  id?: string | undefined;
}

export interface Violation {
  policy: string;
  resource: string;
  type: string;
  message: string;
}

export function evaluatePolicies(resources: readonly PolicyInput[], policies = POLICIES): Violation[] {
  const violations: Violation[] = [];
  const urn = (r: PolicyInput) => `urn:pulumi:plan::im-platform::${r.type}::${r.name}`;
  const notApplicable = (reason?: string): never => {
    throw new NotApplicable(reason);
  };
  const base = { stackTags: new Map<string, string>(), notApplicable, getConfig: <T extends object>() => ({}) as T };
  for (const policy of policies) {
    if ("validateResource" in policy) {
      const v = policy.validateResource;
      const validations = v === undefined ? [] : Array.isArray(v) ? v : [v];
      for (const r of resources) {
        const args = {
          ...base,
          type: r.type,
          name: r.name,
          props: r.props,
          urn: urn(r),
          opts: {},
        } as unknown as ResourceValidationArgs;
        for (const validate of validations)
          run(() =>
            validate(args, (message) =>
              violations.push({ policy: policy.name, resource: r.name, type: r.type, message }),
            ),
          );
      }
    } else {
      const stackPolicy = policy as StackValidationPolicy;
      const all = resources.map(
        (r) =>
          ({
            type: r.type,
            name: r.name,
            urn: urn(r),
            props: { ...r.props, id: r.id },
            opts: {},
            dependencies: [],
            propertyDependencies: {},
          }) as unknown as PolicyResource,
      );
      const byUrn = new Map(all.map((r) => [r.urn, r]));
      run(() =>
        stackPolicy.validateStack({ ...base, resources: all }, (message, at) => {
          const r = at === undefined ? undefined : byUrn.get(at);
          violations.push({ policy: policy.name, resource: r?.name ?? "(stack)", type: r?.type ?? "(stack)", message });
        }),
      );
    }
  }
  return violations;
}

class NotApplicable extends Error {}

function run(f: () => unknown): void {
  try {
    const r = f();
    if (r instanceof Promise) throw new Error("asynchronous policies are not supported offline");
  } catch (err) {
    if (!(err instanceof NotApplicable)) throw err;
  }
}

/** The policy names, for reports that list what was checked. */
export const POLICY_NAMES: readonly string[] = POLICIES.map((p) => p.name);
export type { ResourceValidationPolicy };
