/**
 * Values in a cloud stack that only its owner can supply, left as placeholders: documentation address ranges
 * (RFC 5737: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) and reserved example names (RFC 2606 / RFC 6761:
 * example.com, example.net, example.org and the .example, .test, .invalid TLDs). A cloud stack plans offline with
 * them (`imctl plan` lists them), but the real engine refuses it (`pulumi preview|up`, `imctl preview|up`), naming
 * the first: a load balancer certificate for im.example.com or an API open to 203.0.113.0/24 helps nobody. Pure.
 */
import { overlaps, parseCidr, cidrProblem } from "./cidr.ts";

export interface Placeholder {
  /** The field's path in the stack file ("clouds.aws.cluster.apiAccessCidrs[0]"). */
  field: string;
  value: string;
  /** What kind of placeholder and what to put instead. */
  why: string;
}

const DOCUMENTATION_RANGES = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"].map(parseCidr);
const EXAMPLE_NAME = /(^|\.)(example\.(com|net|org)|example|test|invalid)$/;

/** What a stack reads for this check: only its clouds' sections. */
export interface PlaceholderInput {
  /** An existing cluster (infra/lib/spec-cluster.ts): its test stacks may use example names, nothing is public. */
  cluster?: unknown;
  clouds?: Partial<Record<"aws" | "alicloud", { cluster: { apiAccessCidrs: readonly string[] } }>> | undefined;
  kubernetes?:
    | {
        ingress: { host: string; tls?: { acmeEmail?: string | undefined } | undefined };
        image: { registry?: string | undefined; build?: { alicloudRegistryUser?: string | undefined } | undefined };
      }
    | undefined;
}

function exampleName(host: string): boolean {
  return EXAMPLE_NAME.test(host.toLowerCase());
}

/** Every placeholder of a cloud stack, in the order of the stack file; empty for a stack on an existing cluster. */
export function findPlaceholders(spec: PlaceholderInput): Placeholder[] {
  const found: Placeholder[] = [];
  if (spec.clouds === undefined || spec.cluster !== undefined) return found;
  for (const cloud of ["aws", "alicloud"] as const) {
    spec.clouds[cloud]?.cluster.apiAccessCidrs.forEach((block, i) => {
      if (cidrProblem(block) !== null) return;
      if (DOCUMENTATION_RANGES.some((d) => overlaps(d, parseCidr(block))))
        found.push({
          field: `clouds.${cloud}.cluster.apiAccessCidrs[${i}]`,
          value: block,
          why: "a documentation range (RFC 5737): list the operators' egress blocks, or remove the list for a private API",
        });
    });
  }
  const k = spec.kubernetes;
  if (k === undefined) return found;
  if (exampleName(k.ingress.host))
    found.push({
      field: "kubernetes.ingress.host",
      value: k.ingress.host,
      why: "a reserved example name (RFC 2606): the public name of the edge, whose certificate the stack obtains",
    });
  const acmeEmail = k.ingress.tls?.acmeEmail;
  if (acmeEmail !== undefined && exampleName(acmeEmail.split("@")[1] ?? ""))
    found.push({
      field: "kubernetes.ingress.tls.acmeEmail",
      value: acmeEmail,
      why: "a reserved example domain: the address the ACME CA writes to about expiring certificates",
    });
  const registry = k.image.registry;
  if (registry !== undefined && exampleName(registry.split("/")[0]?.replace(/:\d+$/, "") ?? ""))
    found.push({
      field: "kubernetes.image.registry",
      value: registry,
      why: "a reserved example name: the registry the clusters pull the images from (or use image.build)",
    });
  const user = k.image.build?.alicloudRegistryUser;
  if (user !== undefined && /@example[.-]/.test(user))
    found.push({
      field: "kubernetes.image.build.alicloudRegistryUser",
      value: user,
      why: "a placeholder account: the Alibaba Cloud account or RAM user that docker login pairs with the registry password",
    });
  return found;
}

/** The one line a refused stack gets: the first placeholder, and how many more there are. */
export function placeholderMessage(file: string, found: readonly Placeholder[]): string | null {
  const first = found[0];
  if (first === undefined) return null;
  const more = found.length > 1 ? ` (and ${found.length - 1} more placeholder(s); imctl plan lists them)` : "";
  return `${file}: ${first.field}: got ${JSON.stringify(first.value)}; ${first.why}${more}`;
}
