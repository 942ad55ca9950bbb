/**
 * The clouds' own rules for VPC address blocks and the links between VPCs, as a pure check: what AWS and Alibaba
 * Cloud refuse at create time, found at plan time instead. No Pulumi import, no I/O.
 *
 * AWS (Amazon VPC User Guide, "VPC CIDR blocks" and its "IPv4 CIDR block association restrictions" table; "VPC
 * peering limitations"):
 * - every IPv4 block of a VPC, primary or secondary, is /16 to /28;
 * - a VPC holds at most 5 IPv4 blocks (the default quota);
 * - a secondary block may not come from another RFC 1918 range than the primary's: a VPC on 10.0.0.0/8 takes no
 *   block from 172.16.0.0/12 or 192.168.0.0/16 (and so on for each range; a VPC on 198.19.0.0/16 or on a public
 *   block takes no RFC 1918 block at all); 100.64.0.0/10 is permitted with any primary;
 * - two VPCs whose blocks overlap cannot be peered (nor routed through one transit gateway route table).
 * Alibaba Cloud (VPC API reference, CreateVpc, AssociateVpcCidrBlock, CreateVSwitch):
 * - a VPC block (primary or secondary) has a mask of 8 to 28 bits and lies outside 100.64.0.0/10, 224.0.0.0/4,
 *   127.0.0.0/8 and 169.254.0.0/16; any RFC 1918 range may be a secondary block of any primary (no AWS-style
 *   cross-range restriction);
 * - a VPC holds at most 5 secondary IPv4 blocks;
 * - blocks of one VPC may not overlap, nor may the blocks of two VPCs joined by a peering connection (routes to
 *   the peer would be ambiguous);
 * - a vSwitch lies inside one block of its VPC with a mask of 16 to 29 bits (AWS subnet: /16 to /28).
 */
import { contains, format, overlaps, parseCidr, type Cidr, type NetworkPlan } from "./cidr.ts";

export type VpcCloud = "aws" | "alicloud";

/** One VPC as the plan would create it. */
export interface VpcBlocks {
  /** A stable name for messages ("app", "data"). */
  readonly name: string;
  readonly primary: string;
  /** Blocks associated after creation. */
  readonly secondaries: readonly string[];
  /** Subnets (vSwitches) to create in it. */
  readonly subnets: readonly string[];
}

/** A private link between two VPCs of one cloud: VPC peering (both clouds) or a transit router / gateway. */
export interface VpcLink {
  readonly kind: "peering" | "transit";
  readonly a: string;
  readonly b: string;
}

export interface VpcLayout {
  readonly cloud: VpcCloud;
  readonly vpcs: readonly VpcBlocks[];
  readonly links: readonly VpcLink[];
}

const RFC1918: readonly { name: string; cidr: Cidr }[] = [
  { name: "10.0.0.0/8", cidr: parseCidr("10.0.0.0/8") },
  { name: "172.16.0.0/12", cidr: parseCidr("172.16.0.0/12") },
  { name: "192.168.0.0/16", cidr: parseCidr("192.168.0.0/16") },
];
const AWS_198_19 = parseCidr("198.19.0.0/16");
const SHARED_ADDRESS_SPACE = parseCidr("100.64.0.0/10");
const ALICLOUD_RESERVED = ["100.64.0.0/10", "224.0.0.0/4", "127.0.0.0/8", "169.254.0.0/16"].map(parseCidr);

/** AWS: the default quota of IPv4 blocks per VPC (primary included). Alibaba Cloud: secondary blocks per VPC. */
export const AWS_MAX_VPC_BLOCKS = 5;
export const ALICLOUD_MAX_SECONDARY_BLOCKS = 5;

const VPC_PREFIX = { aws: { min: 16, max: 28 }, alicloud: { min: 8, max: 28 } } as const;
const SUBNET_PREFIX = { aws: { min: 16, max: 28 }, alicloud: { min: 16, max: 29 } } as const;

function rangeOf(c: Cidr): string | undefined {
  return RFC1918.find((r) => contains(r.cidr, c))?.name;
}

/**
 * Why AWS refuses to associate `secondary` with a VPC whose primary block is `primary`, or null when it permits it.
 * The rule is the association-restrictions table of the Amazon VPC User Guide.
 */
export function awsAssociationProblem(primary: string, secondary: string): string | null {
  const p = parseCidr(primary);
  const s = parseCidr(secondary);
  if (contains(SHARED_ADDRESS_SPACE, s)) return null;
  const pRange = rangeOf(p);
  const sRange = rangeOf(s);
  if (pRange !== undefined) {
    if (sRange !== undefined && sRange !== pRange)
      return (
        `AWS refuses ${secondary} as a secondary block of a VPC on ${primary}: a VPC whose primary block is in ` +
        `${pRange} takes no block from another RFC 1918 range (${sRange})`
      );
    return null;
  }
  if (sRange !== undefined || (!contains(AWS_198_19, p) && contains(AWS_198_19, s)))
    return (
      `AWS refuses ${secondary} as a secondary block of a VPC on ${primary}: a VPC whose primary block is ` +
      `outside RFC 1918 takes no RFC 1918${contains(AWS_198_19, p) ? "" : " or 198.19.0.0/16"} block`
    );
  return null;
}

/** Every rule the layout breaks, one line each; empty when the cloud would accept it. */
export function vpcLayoutProblems(layout: VpcLayout): string[] {
  const problems: string[] = [];
  const { cloud } = layout;
  const vpcSize = VPC_PREFIX[cloud];
  const subnetSize = SUBNET_PREFIX[cloud];
  const blocksOf = new Map<string, Cidr[]>();
  for (const vpc of layout.vpcs) {
    const blocks = [vpc.primary, ...vpc.secondaries];
    const parsed = blocks.map(parseCidr);
    blocksOf.set(vpc.name, parsed);
    parsed.forEach((b, i) => {
      const text = blocks[i] ?? format(b);
      if (b.prefix < vpcSize.min || b.prefix > vpcSize.max)
        problems.push(
          `${cloud} VPC ${vpc.name}: block ${text} is /${b.prefix}; allowed /${vpcSize.min} to /${vpcSize.max}`,
        );
      if (cloud === "alicloud") {
        const reserved = ALICLOUD_RESERVED.find((r) => overlaps(r, b));
        if (reserved !== undefined)
          problems.push(`alicloud VPC ${vpc.name}: block ${text} overlaps the reserved range ${format(reserved)}`);
      }
      for (let j = 0; j < i; j++) {
        const other = parsed[j];
        if (other !== undefined && overlaps(other, b))
          problems.push(`${cloud} VPC ${vpc.name}: block ${text} overlaps its block ${blocks[j]}`);
      }
    });
    if (cloud === "aws") {
      if (blocks.length > AWS_MAX_VPC_BLOCKS)
        problems.push(`aws VPC ${vpc.name}: ${blocks.length} IPv4 blocks; the default quota is ${AWS_MAX_VPC_BLOCKS}`);
      for (const s of vpc.secondaries) {
        const problem = awsAssociationProblem(vpc.primary, s);
        if (problem !== null) problems.push(`aws VPC ${vpc.name}: ${problem}`);
      }
    } else if (vpc.secondaries.length > ALICLOUD_MAX_SECONDARY_BLOCKS) {
      problems.push(
        `alicloud VPC ${vpc.name}: ${vpc.secondaries.length} secondary blocks; at most ${ALICLOUD_MAX_SECONDARY_BLOCKS}`,
      );
    }
    for (const text of vpc.subnets) {
      const sn = parseCidr(text);
      if (sn.prefix < subnetSize.min || sn.prefix > subnetSize.max)
        problems.push(
          `${cloud} VPC ${vpc.name}: subnet ${text} is /${sn.prefix}; allowed /${subnetSize.min} to /${subnetSize.max}`,
        );
      if (!parsed.some((b) => contains(b, sn)))
        problems.push(`${cloud} VPC ${vpc.name}: subnet ${text} lies in none of its blocks (${blocks.join(", ")})`);
    }
  }
  for (const link of layout.links) {
    const a = blocksOf.get(link.a);
    const b = blocksOf.get(link.b);
    if (a === undefined || b === undefined) {
      problems.push(`${cloud} ${link.kind} ${link.a} <-> ${link.b}: names a VPC the layout does not have`);
      continue;
    }
    if (link.a === link.b) problems.push(`${cloud} ${link.kind} ${link.a} <-> ${link.b}: a VPC cannot link to itself`);
    for (const x of a)
      for (const y of b)
        if (link.a !== link.b && overlaps(x, y))
          problems.push(
            `${cloud} ${link.kind} ${link.a} <-> ${link.b}: ${format(x)} overlaps ${format(y)}; ` +
              "linked VPCs need disjoint blocks",
          );
  }
  return problems;
}

/**
 * The layout the network components build from a plan: two VPCs per cloud, the app VPC on the app segment (public
 * and private subnets) and the data VPC on the data segment's VPC block (data subnets), joined by VPC peering.
 * Two VPCs rather than one VPC with a secondary block: AWS refuses the seed's 172.16.0.0/12 data segment as a
 * secondary block of a VPC on 10.0.0.0/16 (see `awsAssociationProblem`), and keeping both clouds alike keeps one
 * firewall plan, one routing plan and one failure model.
 */
export function networkLayout(cloud: VpcCloud, plan: NetworkPlan): VpcLayout {
  return {
    cloud,
    vpcs: [
      {
        name: "app",
        primary: plan.appCidr,
        secondaries: [],
        subnets: plan.zones.flatMap((z) => [z.public, z.private]),
      },
      { name: "data", primary: plan.dataVpcCidr, secondaries: [], subnets: plan.zones.map((z) => z.data) },
    ],
    links: [{ kind: "peering", a: "app", b: "data" }],
  };
}

/** Raised by the network components when a layout breaks a cloud's rules (the spec refuses such a stack first). */
export class VpcLayoutError extends Error {
  override readonly name = "VpcLayoutError";
}

/** Throw `VpcLayoutError` with every broken rule when the cloud would refuse the layout. */
export function assertVpcLayout(layout: VpcLayout): void {
  const problems = vpcLayoutProblems(layout);
  if (problems.length > 0) throw new VpcLayoutError(problems.join("; "));
}
