/**
 * A service's HTTPRoute as a rollout reads and writes it: the rule that splits between the stable and the canary
 * Service, their backendRef weights, and whether the route's controller (the Gateway's) has accepted the route at its
 * current generation. Pure: the API calls are rollout.ts's.
 */

/** The weights of an HTTPRoute's rule that splits between a stable and a canary Service, as the route says. */
export interface RouteWeights {
  stable: number;
  canary: number;
  generation: number;
  /** Whether every parent (Gateway) reports Accepted and ResolvedRefs for this generation. */
  accepted: boolean;
  /** The controller's last word when not accepted, for messages. */
  detail: string;
}

export const ROUTE_API = { group: "gateway.networking.k8s.io", version: "v1", plural: "httproutes" } as const;

/** The parts of a gateway.networking.k8s.io/v1 HTTPRoute a rollout reads. */
export interface HttpRoute {
  metadata?: { generation?: number };
  spec?: { rules?: Array<{ backendRefs?: Array<{ name?: string; weight?: number }> }> };
  status?: {
    parents?: Array<{
      parentRef?: { name?: string };
      conditions?: Array<{ type?: string; status?: string; observedGeneration?: number; message?: string }>;
    }>;
  };
}

function splitRules(route: HttpRoute, stableService: string, canaryService: string): number[] {
  const rules = route.spec?.rules ?? [];
  return rules.flatMap((r, i) => {
    const names = (r.backendRefs ?? []).map((b) => b.name);
    return names.includes(stableService) && names.includes(canaryService) ? [i] : [];
  });
}

/** The weights a route's first splitting rule gives, and whether its controller accepted this generation. */
export function routeWeights(route: HttpRoute, stableService: string, canaryService: string): RouteWeights | null {
  const [rule] = splitRules(route, stableService, canaryService);
  if (rule === undefined) return null;
  const refs = route.spec?.rules?.[rule]?.backendRefs ?? [];
  // A backendRef without a weight weighs 1 (Gateway API default).
  const weightOf = (svc: string) => refs.find((b) => b.name === svc)?.weight ?? 1;
  const generation = route.metadata?.generation ?? 0;
  const parents = route.status?.parents ?? [];
  const problems: string[] = [];
  for (const p of parents)
    for (const type of ["Accepted", "ResolvedRefs"]) {
      const c = p.conditions?.find((x) => x.type === type);
      if (c?.status !== "True" || (c.observedGeneration ?? 0) < generation)
        problems.push(
          `${p.parentRef?.name ?? "gateway"} ${type}=${c?.status ?? "unset"} at generation ` +
            `${c?.observedGeneration ?? "-"}/${generation}${c?.message ? ` (${c.message.slice(0, 120)})` : ""}`,
        );
    }
  if (parents.length === 0) problems.push("no Gateway has reported on the route (is its controller running?)");
  return {
    stable: weightOf(stableService),
    canary: weightOf(canaryService),
    generation,
    accepted: problems.length === 0,
    detail: problems.join("; ") || "accepted",
  };
}

/** A JSON patch setting the weights in every splitting rule; each replace is guarded by a test of the name. */
export function routeWeightPatch(
  route: HttpRoute,
  stableService: string,
  canaryService: string,
  weights: { stable: number; canary: number },
): Array<Record<string, unknown>> {
  const ops: Array<Record<string, unknown>> = [];
  for (const i of splitRules(route, stableService, canaryService)) {
    (route.spec?.rules?.[i]?.backendRefs ?? []).forEach((b, j) => {
      const w = b.name === stableService ? weights.stable : b.name === canaryService ? weights.canary : undefined;
      if (w === undefined) return;
      const at = `/spec/rules/${i}/backendRefs/${j}`;
      ops.push({ op: "test", path: `${at}/name`, value: b.name });
      ops.push({ op: b.weight === undefined ? "add" : "replace", path: `${at}/weight`, value: w });
    });
  }
  return ops;
}
