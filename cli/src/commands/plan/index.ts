/**
 * `imctl plan --stack <name>`: what the Pulumi program would declare for a kubernetes stack, without a cloud
 * account or the Pulumi CLI. It validates the stack file, runs infra/platform.ts under Pulumi's mocks
 * (infra/mocks.ts), and reports the resource tree by layer, the CIDR plan, the policy pack's verdict on the
 * declared resources, the capacity of the app node groups and the monthly cost at list prices.
 * A real preview (`pulumi preview --policy-pack infra/policy`) needs credentials and the Pulumi CLI.
 */
import { planNetwork, type ZoneSubnets } from "../../../../infra/lib/cidr.ts";
import { monthlyCost, type CostLine } from "../../../../infra/lib/cost.ts";
import type { CloudName } from "../../../../infra/lib/regions.ts";
import { networkLayout, type VpcLink } from "../../../../infra/lib/vpc-rules.ts";
import { findPlaceholders, type Placeholder } from "../../../../infra/lib/placeholders.ts";
import { ALIKAFKA_TOPIC_GUARANTEES, ALIKAFKA_TRANSPORT } from "../../../../infra/lib/managed-limits.ts";
import { checkCapacity, type CapacityCheck } from "../../../../infra/lib/sizing.ts";
import type { KubernetesPlatformSpec } from "../../../../infra/lib/spec.ts";
import { table } from "../../lib/table.ts";
import { loadKubernetesStack } from "../stack.ts";

export interface PlanOptions {
  stack?: string;
}

export interface PlannedResource {
  type: string;
  name: string;
  /** network, cluster, gateway, data, services, or stack (providers). */
  layer: string;
  /** False for the platform's own component resources. */
  custom: boolean;
}

export interface CidrPlan {
  cloud: CloudName;
  region: string;
  appCidr: string;
  dataCidr: string;
  dataVpcCidr: string;
  serviceCidr: string;
  zones: ZoneSubnets[];
  /** The two VPCs of the cloud (infra/lib/vpc-rules.ts): app (cluster, nodes, LB) and data (managed data services). */
  vpcs: { name: string; cidr: string }[];
  /** The link between them and its fixed monthly cost (data transfer not included). */
  link: VpcLink & { monthlyUsd: number };
}

export interface PolicyViolation {
  policy: string;
  resource: string;
  type: string;
  message: string;
}

export interface PlanResult {
  stack: string;
  clouds: CloudName[];
  /** An existing-cluster stack: its kubeconfig context (then `clouds` is empty and nothing is priced). */
  clusterContext?: string | undefined;
  resources: PlannedResource[];
  cidrPlan: CidrPlan[];
  policiesChecked: readonly string[];
  policyViolations: PolicyViolation[];
  capacity: CapacityCheck[];
  monthlyCostUsd: number;
  cost: { lines: CostLine[]; unpriced: string[]; estimated: string[] };
  /** Values only the stack's owner can supply, still placeholders: preview and up refuse the stack until replaced. */
  placeholders: Placeholder[];
  /** How the plan was made and what it could not see. */
  notes: string[];
}

/**
 * The seed an offline plan derives the existing-cluster secrets from: the mocks never leave this process and the
 * plan never prints a secret, so any seed of the right length does; a real run uses the stack's own.
 */
const OFFLINE_PLAN_SEED = "offline-plan-seed-not-a-secret-0123456789";

const LAYER_ORDER = ["stack", "network", "cluster", "gateway", "data", "services", "observability", "loadtest"];

export async function plan(opts: PlanOptions): Promise<PlanResult> {
  const { spec } = loadKubernetesStack(opts.stack);
  // Pulumi and the providers load only here: `imctl --help` and the local commands stay fast.
  const [{ runWithMocks }, { deployPlatform }, { evaluatePolicies, POLICY_NAMES }] = await Promise.all([
    import("../../../../infra/mocks.ts"),
    import("../../../../infra/platform.ts"),
    import("../../../../infra/policy/evaluate.ts"),
  ]);
  const { resources } = await runWithMocks(spec.name, () => {
    deployPlatform(spec, { secretSeed: OFFLINE_PLAN_SEED });
  });
  const clouds = (["aws", "alicloud"] as const).filter((c) => spec.clouds[c] !== undefined);
  const cost = monthlyCost(spec);
  const cidrPlan = cidrPlanOf(spec, clouds, cost.lines);
  const workloads = (["gateway", "message", "userCenter"] as const).map((s) => ({
    replicas: spec.services[s].replicas,
    ...spec.kubernetes.services[s],
  }));
  const capacity = clouds.flatMap((c) => {
    const cloud = spec.clouds[c];
    return cloud === undefined ? [] : [checkCapacity(c, cloud.cluster.nodeGroups.app, workloads, cloud.zones.length)];
  });
  const policyViolations = evaluatePolicies(
    resources.filter((r) => r.custom).map((r) => ({ type: r.type, name: r.name, props: r.inputs, id: r.id })),
  );
  const layerRank = (l: string) => LAYER_ORDER.indexOf(l) + 1 || LAYER_ORDER.length + 1;
  return {
    stack: spec.name,
    clouds,
    clusterContext: spec.cluster?.context,
    resources: resources
      .map((r) => ({ type: r.type, name: r.name, layer: r.layer, custom: r.custom }))
      .sort(
        (a, b) =>
          layerRank(a.layer) - layerRank(b.layer) || a.type.localeCompare(b.type) || a.name.localeCompare(b.name),
      ),
    cidrPlan,
    policiesChecked: POLICY_NAMES,
    policyViolations,
    capacity,
    monthlyCostUsd: cost.monthlyCostUsd,
    cost: { lines: cost.lines, unpriced: cost.unpriced, estimated: cost.unchecked },
    placeholders: findPlaceholders(spec),
    notes: [
      ...(spec.cluster === undefined
        ? []
        : [
            `existing cluster (context ${spec.cluster.context}): no cloud resource is created, so there is no cloud ` +
              "cost to price and no CIDR plan or node-group capacity to check; the data tier is " +
              (spec.cluster.data.mode === "external" ? "external" : "in the cluster (namespace im-data)"),
          ]),
      ...(spec.multicloud === undefined
        ? []
        : [
            "the VPN carries the two app segments only, for operators (kubectl, dashboards, drills across clouds): " +
              "no data crosses it, each cloud runs its own data tier",
          ]),
      ...(spec.clouds.alicloud?.data.kafka.mode === "managed" ? [ALIKAFKA_TOPIC_GUARANTEES, ALIKAFKA_TRANSPORT] : []),
      "offline plan: the program ran under Pulumi mocks; no cloud API was called and provider-side checks " +
        "(quotas, instance availability, names taken) did not run",
      "for a real preview with the policy pack: imctl preview --stack <name> (the Automation API; needs the Pulumi CLI and cloud credentials)",
    ],
  };
}

/** Per cloud: the address plan, its two VPCs and the priced link between them. */
function cidrPlanOf(
  spec: KubernetesPlatformSpec,
  clouds: readonly CloudName[],
  costLines: readonly CostLine[],
): CidrPlan[] {
  return clouds.flatMap((c): CidrPlan[] => {
    const cloud = spec.clouds[c];
    if (cloud === undefined) return [];
    const p = planNetwork(cloud.network.appCidr, cloud.network.dataCidr, cloud.zones);
    const layout = networkLayout(c, p);
    const link = layout.links[0] ?? { kind: "peering", a: "app", b: "data" };
    const linkCost = costLines.find((l) => l.cloud === c && l.item.startsWith("VPC peering"));
    return [
      {
        cloud: c,
        region: cloud.region,
        appCidr: p.appCidr,
        dataCidr: p.dataCidr,
        dataVpcCidr: p.dataVpcCidr,
        serviceCidr: cloud.cluster.serviceCidr,
        zones: p.zones,
        vpcs: layout.vpcs.map((v) => ({ name: v.name, cidr: v.primary })),
        link: { ...link, monthlyUsd: linkCost?.monthlyUsd ?? 0 },
      },
    ];
  });
}

const VPC_ROLE: Record<string, string> = {
  app: "public + private subnets: cluster, both node groups, load balancer",
  data: "data subnets, no internet route: managed Redis and Kafka",
};

export function renderPlan(r: PlanResult): string {
  const where = r.clusterContext === undefined ? r.clouds.join(" + ") : `existing cluster, context ${r.clusterContext}`;
  const out: string[] = [`plan for stack ${r.stack} (${where}): ${r.resources.length} resources`, ""];
  const layers = [...new Set(r.resources.map((x) => x.layer))];
  for (const layer of layers) {
    const inLayer = r.resources.filter((x) => x.layer === layer);
    const components = inLayer.filter((x) => !x.custom).map((x) => `${x.name} (${x.type})`);
    out.push(`${layer} (${inLayer.length})${components.length ? `: ${components.join(", ")}` : ""}`);
    const counts = new Map<string, number>();
    for (const x of inLayer.filter((y) => y.custom)) counts.set(x.type, (counts.get(x.type) ?? 0) + 1);
    out.push(...[...counts].map(([type, n]) => `  ${String(n).padStart(3)} x ${type}`));
  }
  out.push("", "CIDR plan:");
  for (const c of r.cidrPlan) {
    out.push(
      `  ${c.cloud} ${c.region}: app ${c.appCidr}, data ${c.dataCidr} (VPC block ${c.dataVpcCidr}), services ${c.serviceCidr}`,
    );
    for (const v of c.vpcs)
      out.push(`    VPC ${v.name.padEnd(5)} ${v.cidr.padEnd(16)} ${VPC_ROLE[v.name] ?? ""}`.trimEnd());
    const kind = c.link.kind === "peering" ? "VPC peering" : "transit router";
    out.push(
      `    link      ${kind} ${c.link.a} <-> ${c.link.b}, routed both ways; ${c.link.monthlyUsd.toFixed(2)} USD/month ` +
        "(no hourly charge; data transfer not included)",
    );
    out.push(
      table(
        ["    ZONE", "PUBLIC", "PRIVATE", "DATA"],
        c.zones.map((z) => [`    ${z.zone}`, z.public, z.private, z.data]),
      ),
    );
  }
  out.push("", `policies (${r.policiesChecked.join(", ")}):`);
  if (r.policyViolations.length === 0) out.push("  no violations");
  else out.push(...r.policyViolations.map((v) => `  VIOLATION ${v.policy}: ${v.message}`));
  out.push("", "capacity of the app node groups (services at their autoscalers' ceilings):");
  for (const c of r.capacity) {
    const verdict = c.fits === null ? `no shape known for ${c.instanceType}` : c.fits ? "fits" : "DOES NOT FIT";
    out.push(
      `  ${c.cloud}: ${c.nodesAtFloor ?? "?"} nodes at the floor, ${c.nodesAtCeiling ?? "?"} at the ceiling; ` +
        `node group ${c.desired} desired, ${c.max} max: ${verdict}`,
    );
  }
  out.push("", "monthly cost at list prices (USD, traffic not included; docs/pricing.md):");
  out.push(
    table(
      ["  CLOUD", "ITEM", "QTY", "MONTHLY"],
      r.cost.lines.map((l) => [`  ${l.cloud}`, l.item, String(l.quantity), l.monthlyUsd.toFixed(2)]),
    ),
  );
  out.push(`  total: ${r.monthlyCostUsd.toFixed(2)} USD/month`);
  if (r.cost.unpriced.length)
    out.push(`  not priced (no entry in infra/lib/pricing.ts): ${r.cost.unpriced.join("; ")}`);
  if (r.cost.estimated.length)
    out.push(
      `  ${r.cost.estimated.length} line(s) rest on estimated prices, to confirm before budgeting (see infra/lib/pricing.ts)`,
    );
  if (r.placeholders.length > 0) {
    out.push("", "placeholders to replace before imctl preview / up (which refuse the stack until then):");
    out.push(...r.placeholders.map((p) => `  ${p.field}: ${JSON.stringify(p.value)}: ${p.why}`));
  }
  out.push("", ...r.notes.map((n) => `note: ${n}`));
  return out.join("\n");
}
