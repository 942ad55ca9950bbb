/**
 * IPv4 CIDR math for the network plan: parse, split a block into equal subnets, find overlaps, and carve a VPC's
 * per-zone public, private and data subnets. Pure: no Pulumi import, no I/O. Addresses are unsigned 32-bit numbers.
 */

export interface Cidr {
  /** Network address as an unsigned 32-bit integer (host bits are zero). */
  readonly base: number;
  /** Prefix length, 0-32. */
  readonly prefix: number;
}

/** Why a string is not a usable CIDR block; `null` when it is one. Host bits must be zero (10.0.0.1/16 is a typo). */
export function cidrProblem(text: string): string | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (m === null) return "an IPv4 CIDR block such as 10.0.0.0/16";
  const octets = m.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) return "an IPv4 CIDR block whose octets are 0-255";
  const prefix = Number(m[5]);
  if (prefix > 32) return "a prefix length from 0 to 32";
  const base = toUint(octets);
  if ((base & ~maskOf(prefix)) >>> 0 !== 0) {
    return `the network address of the block (${format({ base: (base & maskOf(prefix)) >>> 0, prefix })}): host bits must be zero`;
  }
  return null;
}

/** Parse a CIDR block; throws on anything `cidrProblem` rejects. */
export function parseCidr(text: string): Cidr {
  const problem = cidrProblem(text);
  if (problem !== null) throw new RangeError(`CIDR ${JSON.stringify(text)}: expected ${problem}`);
  const [addr = "", len = ""] = text.split("/");
  return { base: toUint(addr.split(".").map(Number)), prefix: Number(len) };
}

export function format(c: Cidr): string {
  const b = c.base;
  return `${b >>> 24}.${(b >>> 16) & 255}.${(b >>> 8) & 255}.${b & 255}/${c.prefix}`;
}

/** Number of addresses in the block. */
export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

/** Last address of the block (inclusive). */
export function lastAddress(c: Cidr): number {
  return c.base + size(c) - 1;
}

/** True when the two blocks share at least one address. Two CIDR blocks either nest or are disjoint. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= lastAddress(b) && b.base <= lastAddress(a);
}

/** True when `inner` lies entirely inside `outer`. */
export function contains(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && inner.base >= outer.base && lastAddress(inner) <= lastAddress(outer);
}

/** Every subnet of `parent` with prefix `newPrefix`, in address order. */
export function split(parent: Cidr, newPrefix: number): Cidr[] {
  if (!Number.isInteger(newPrefix) || newPrefix < parent.prefix || newPrefix > 32) {
    throw new RangeError(`cannot split ${format(parent)} into /${newPrefix}: allowed /${parent.prefix} to /32`);
  }
  const n = 2 ** (newPrefix - parent.prefix);
  const step = 2 ** (32 - newPrefix);
  return Array.from({ length: n }, (_, i) => ({ base: parent.base + i * step, prefix: newPrefix }));
}

/** The first `count` equal subnets of `parent`, each as large as possible (the parent split into a power of two). */
export function carve(parent: Cidr, count: number): Cidr[] {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`cannot carve ${count} subnets: allowed a whole number from 1`);
  const bits = Math.ceil(Math.log2(count));
  return split(parent, parent.prefix + bits).slice(0, count);
}

/** A named block, for overlap reports ("clouds.aws.network.appCidr"). */
export interface NamedCidr {
  readonly name: string;
  readonly cidr: string;
}

/** The first pair of blocks (in the given order) that share an address, or null when all are disjoint. */
export function findOverlap(blocks: readonly NamedCidr[]): [NamedCidr, NamedCidr] | null {
  const parsed = blocks.map((b) => ({ b, c: parseCidr(b.cidr) }));
  for (let j = 1; j < parsed.length; j++) {
    for (let i = 0; i < j; i++) {
      const a = parsed[i];
      const b = parsed[j];
      if (a !== undefined && b !== undefined && overlaps(a.c, b.c)) return [a.b, b.b];
    }
  }
  return null;
}

/** The private ranges of RFC 1918: a suggested replacement block stays inside the range its original was in. */
const PRIVATE_RANGES: readonly Cidr[] = [
  { base: 0x0a000000, prefix: 8 },
  { base: 0xac100000, prefix: 12 },
  { base: 0xc0a80000, prefix: 16 },
];

/**
 * The first block of the same size as `c` that overlaps none of `taken`: searched after `c` (wrapping once) in
 * the RFC 1918 range that holds it, then in the other private ranges. Suggests a fix in overlap errors; null if none.
 */
export function nextFreeBlock(c: Cidr, taken: readonly Cidr[]): string | null {
  const home = PRIVATE_RANGES.find((r) => contains(r, c));
  const ranges = home === undefined ? [...PRIVATE_RANGES] : [home, ...PRIVATE_RANGES.filter((r) => r !== home)];
  const step = size(c);
  for (const range of ranges) {
    if (range.prefix > c.prefix) continue;
    const slots = size(range) / step;
    const first = home === range ? (c.base - range.base) / step : slots - 1;
    // Bounded so that a pathological input cannot spin: a million candidates is far more than any plan needs.
    for (let k = 1; k <= Math.min(slots, 1 << 20); k++) {
      const candidate = { base: range.base + ((first + k) % slots) * step, prefix: c.prefix };
      if (!overlaps(candidate, c) && !taken.some((t) => overlaps(t, candidate))) return format(candidate);
    }
  }
  return null;
}

/** The subnets of one zone. */
export interface ZoneSubnets {
  zone: string;
  /** Load balancers and NAT gateways: the only subnets with a route from the internet. */
  public: string;
  /** Cluster nodes and pods of the services. */
  private: string;
  /** The data tier (TiDB, Redis, Kafka): reachable from the app segment only. */
  data: string;
}

export interface NetworkPlan {
  /** The VPC's primary block: the app segment. */
  appCidr: string;
  /** The data segment as declared (it may be larger than what a VPC can hold). */
  dataCidr: string;
  /** The block actually attached to the VPC for the data tier: the data segment, or its first /16 when larger. */
  dataVpcCidr: string;
  zones: ZoneSubnets[];
}

/**
 * The largest block a VPC (AWS: /16) or a vSwitch (Alibaba Cloud: /16) takes. A larger data segment, such as the
 * seed's 172.16.0.0/12, is kept as the reserved range in the address plan and its first /16 goes into the VPC;
 * the rest stays free for growth (a second /16 can be attached later without renumbering).
 */
export const MAX_VPC_BLOCK_PREFIX = 16;

/** Smallest subnet either cloud accepts (AWS: /28; Alibaba vSwitch: /29). */
export const MIN_SUBNET_PREFIX = 28;

/** Three quarters of the app segment hold the private subnets and the fourth the public ones: at most 3 zones. */
export const MAX_ZONES = 3;

/**
 * Split the app segment and the data segment over the zones:
 * - the app segment is split in four: one quarter per zone for private subnets (nodes and pods need the room,
 *   pods take VPC addresses on EKS and with Terway on ACK), the last quarter split again for the public subnets;
 * - the data segment's VPC block is split over the zones for the data subnets.
 * Throws RangeError when the blocks are too small for the zones (the spec rejects that first, with the field).
 */
export function planNetwork(appCidr: string, dataCidr: string, zones: readonly string[]): NetworkPlan {
  if (zones.length < 1 || zones.length > MAX_ZONES)
    throw new RangeError(`cannot plan ${zones.length} zones: allowed 1 to ${MAX_ZONES}`);
  const app = parseCidr(appCidr);
  const data = parseCidr(dataCidr);
  const dataVpc = data.prefix < MAX_VPC_BLOCK_PREFIX ? { base: data.base, prefix: MAX_VPC_BLOCK_PREFIX } : data;
  const quarters = split(app, app.prefix + 2);
  const publicBlock = quarters[3];
  if (publicBlock === undefined) throw new RangeError(`cannot split ${appCidr} into quarters`);
  const publics = split(publicBlock, publicBlock.prefix + 2);
  const datas = carve(dataVpc, zones.length);
  const smallest = Math.max(publicBlock.prefix + 2, ...datas.map((d) => d.prefix));
  if (smallest > MIN_SUBNET_PREFIX) {
    throw new RangeError(
      `subnets of /${smallest} are below the /${MIN_SUBNET_PREFIX} minimum: use a larger block than ${appCidr} or ${dataCidr}`,
    );
  }
  return {
    appCidr: format(app),
    dataCidr: format(data),
    dataVpcCidr: format(dataVpc),
    zones: zones.map((zone, i) => ({
      zone,
      public: format(at(publics, i)),
      private: format(at(quarters, i)),
      data: format(at(datas, i)),
    })),
  };
}

/** The widest app segment a plan accepts (a VPC's primary block is at most /16) and the narrowest (public /28s). */
export const APP_PREFIX_RANGE = { min: 16, max: MIN_SUBNET_PREFIX - 4 } as const;
/** The data segment may be wider than a VPC block (the seed's /12); its VPC block is split over up to 3 zones. */
export const DATA_PREFIX_RANGE = { min: 8, max: MIN_SUBNET_PREFIX - 2 } as const;

function at(list: readonly Cidr[], i: number): Cidr {
  const c = list[i];
  if (c === undefined) throw new RangeError(`no subnet ${i}`);
  return c;
}

function toUint(octets: number[]): number {
  return octets.reduce((acc, o) => acc * 256 + o, 0) >>> 0;
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}
