/**
 * The cross-field rules of the kubernetes sections of the platform spec (`clouds`, `multicloud`, `kubernetes`,
 * `tags`; their shape is in `infra/lib/spec-cloud.ts`): zones and regions, CIDR overlaps within and across clouds,
 * images, exposure and tags. `infra/lib/spec.ts` runs `checkKubernetesSections` from its refinement. Pure.
 */
import {
  APP_PREFIX_RANGE,
  cidrProblem,
  DATA_PREFIX_RANGE,
  findOverlap,
  nextFreeBlock,
  overlaps,
  parseCidr,
  planNetwork,
  type NamedCidr,
} from "./cidr.ts";
import { networkLayout, vpcLayoutProblems } from "./vpc-rules.ts";
import { exampleZone, REGIONS, zoneBelongsTo, type CloudName } from "./regions.ts";
import { checkClusterSection, type ClusterSpec } from "./spec-cluster.ts";
import {
  REQUIRED_TAGS,
  REQUIRED_ZONES,
  WORLD_CIDRS,
  type CloudSpec,
  type CloudsSpec,
  type KubernetesSpec,
  type MulticloudSpec,
} from "./spec-cloud.ts";

/** What `checkKubernetesSections` needs from the whole spec. */
export interface KubernetesSections {
  target: "local" | "kubernetes";
  services: Record<"gateway" | "message" | "userCenter", { replicas: number }>;
  data: { kafka: { brokers: number } };
  clouds?: CloudsSpec | undefined;
  multicloud?: MulticloudSpec | undefined;
  kubernetes?: KubernetesSpec | undefined;
  tags?: Record<string, string> | undefined;
  /** An existing cluster instead of clouds (infra/lib/spec-cluster.ts). */
  cluster?: ClusterSpec | undefined;
}

/** One problem: the path of the field and a message that names what is allowed or how to fix it. */
export interface SectionIssue {
  path: Array<string | number>;
  message: string;
}

const CLOUDS: readonly CloudName[] = ["aws", "alicloud"];

/**
 * Every cross-field rule of the kubernetes sections, in the order a reader of the stack file meets the fields.
 * Returns the problems instead of throwing so the schema can report the first with its path and value.
 */
export function checkKubernetesSections(spec: KubernetesSections): SectionIssue[] {
  const issues: SectionIssue[] = [];
  if (spec.target === "local") {
    for (const field of ["clouds", "multicloud", "kubernetes", "tags", "cluster"] as const) {
      if (spec[field] !== undefined)
        issues.push({
          path: [field],
          message: 'only a target "kubernetes" stack has this section; remove it or set target: kubernetes',
        });
    }
    return issues;
  }
  if (spec.cluster !== undefined) {
    // An existing cluster: no cloud resources, so tags are optional (they label the namespaces).
    issues.push(...checkClusterSection({ ...spec, cluster: spec.cluster }));
    if (spec.kubernetes === undefined)
      issues.push({
        path: ["kubernetes"],
        message: "required when target is kubernetes (see stacks/embedded-cluster.yaml)",
      });
    else issues.push(...checkImage(spec.kubernetes.image, false), ...checkMaxReplicas(spec, spec.kubernetes));
    return issues;
  }
  const present = CLOUDS.filter((c) => spec.clouds?.[c] !== undefined);
  if (present.length === 0) {
    issues.push({
      path: ["clouds"],
      message:
        'required when target is kubernetes: add "aws", "alicloud" or both (see stacks/aws-prod.yaml), ' +
        "or a cluster section for an existing cluster instead (see stacks/embedded-cluster.yaml)",
    });
  }
  if (spec.kubernetes === undefined)
    issues.push({ path: ["kubernetes"], message: "required when target is kubernetes (see stacks/aws-prod.yaml)" });
  if (spec.tags === undefined)
    issues.push({ path: ["tags"], message: `required when target is kubernetes, with ${REQUIRED_TAGS.join(", ")}` });
  for (const key of REQUIRED_TAGS) {
    if (spec.tags !== undefined && spec.tags[key] === undefined)
      issues.push({
        path: ["tags", key],
        message: `required tag: every stack tags its resources with ${REQUIRED_TAGS.join(", ")}`,
      });
  }
  for (const c of present) {
    const cloud = spec.clouds?.[c];
    if (cloud !== undefined) issues.push(...checkCloud(c, cloud, spec.data.kafka.brokers));
  }
  issues.push(...checkCrossCloudOverlap(spec.clouds ?? {}));
  if (present.length === 2 && spec.multicloud === undefined) {
    issues.push({
      path: ["multicloud"],
      message:
        "required when both clouds.aws and clouds.alicloud are present: how the two VPCs connect (see stacks/multicloud.yaml)",
    });
  }
  if (present.length < 2 && spec.multicloud !== undefined) {
    issues.push({
      path: ["multicloud"],
      message: "needs both clouds.aws and clouds.alicloud: remove it or add the other cloud",
    });
  }
  if (spec.kubernetes !== undefined) {
    issues.push(
      ...checkImage(spec.kubernetes.image, spec.clouds?.alicloud !== undefined),
      ...checkMaxReplicas(spec, spec.kubernetes),
    );
    if (spec.kubernetes.ingress.tls === undefined)
      issues.push({
        path: ["kubernetes", "ingress", "tls"],
        message:
          "required on a cloud stack: { acmeEmail: <your address> } (clients send tokens over the WebSocket, which " +
          "must not cross the internet in plaintext)",
      });
  }
  return issues;
}

function checkMaxReplicas(spec: KubernetesSections, k: KubernetesSpec): SectionIssue[] {
  const issues: SectionIssue[] = [];
  for (const svc of ["gateway", "message", "userCenter"] as const) {
    const max = k.services[svc].maxReplicas;
    const min = spec.services[svc].replicas;
    if (max < min)
      issues.push({
        path: ["kubernetes", "services", svc, "maxReplicas"],
        message: `at least services.${svc}.replicas (${min}), the autoscaler's lower bound`,
      });
  }
  return issues;
}

function checkImage(image: KubernetesSpec["image"], alicloud: boolean): SectionIssue[] {
  const at = (...rest: string[]) => ["kubernetes", "image", ...rest];
  if ((image.registry === undefined) === (image.build === undefined)) {
    const both = image.registry !== undefined;
    return [
      {
        path: at(both ? "build" : "registry"),
        message:
          "expected either registry (prebuilt images by tag) or build " +
          `(Pulumi builds services/*/Dockerfile and pushes to ECR / Container Registry)${both ? ", not both" : ""}`,
      },
    ];
  }
  if (alicloud && image.build !== undefined && image.build.alicloudRegistryUser === undefined) {
    return [
      {
        path: at("build", "alicloudRegistryUser"),
        message:
          "required when building for clouds.alicloud: the account or RAM user name that docker login pairs with the registry password",
      },
    ];
  }
  return [];
}

function checkCloud(c: CloudName, cloud: CloudSpec, kafkaBrokers: number): SectionIssue[] {
  const at = (...rest: Array<string | number>) => ["clouds", c, ...rest];
  const issues: SectionIssue[] = [];
  const regions = REGIONS[c];
  if (!regions.includes(cloud.region)) {
    issues.push({
      path: at("region"),
      message: `not a supported ${c} region; allowed: ${regions.join(", ")} (infra/lib/regions.ts says why)`,
    });
    return issues;
  }
  if (cloud.zones.length !== REQUIRED_ZONES) {
    const missing = REQUIRED_ZONES - cloud.zones.length;
    const fix =
      missing > 0
        ? `add ${missing === 1 ? "a zone" : `${missing} zones`} such as ${suggestZone(c, cloud.region, cloud.zones)}`
        : `keep ${REQUIRED_ZONES}`;
    issues.push({
      path: at("zones"),
      message: `${REQUIRED_ZONES} zones are needed so a zone loss keeps a quorum of every 3-replica store: ${fix}`,
    });
  }
  cloud.zones.forEach((zone, i) => {
    if (!zoneBelongsTo(c, cloud.region, zone)) {
      issues.push({
        path: at("zones", i),
        message: `not a zone of ${cloud.region}; zone names look like ${exampleZone(c, cloud.region)}`,
      });
    } else if (cloud.zones.indexOf(zone) !== i) {
      issues.push({
        path: at("zones", i),
        message: "listed twice: each zone holds one replica, so the zones must differ",
      });
    }
  });
  // A malformed block was already reported by its field's own check (zod still runs this refinement).
  const app = cidrProblem(cloud.network.appCidr) === null ? parseCidr(cloud.network.appCidr) : undefined;
  if (app !== undefined && (app.prefix < APP_PREFIX_RANGE.min || app.prefix > APP_PREFIX_RANGE.max)) {
    issues.push({
      path: at("network", "appCidr"),
      message:
        `a block from /${APP_PREFIX_RANGE.min} to /${APP_PREFIX_RANGE.max} ` +
        "(a VPC's primary block is at most /16; three zones need room for /28 public subnets)",
    });
  }
  const data = cidrProblem(cloud.network.dataCidr) === null ? parseCidr(cloud.network.dataCidr) : undefined;
  if (data !== undefined && (data.prefix < DATA_PREFIX_RANGE.min || data.prefix > DATA_PREFIX_RANGE.max)) {
    issues.push({
      path: at("network", "dataCidr"),
      message: `a block from /${DATA_PREFIX_RANGE.min} to /${DATA_PREFIX_RANGE.max}`,
    });
  }
  if (issues.length === 0 && app !== undefined && data !== undefined) issues.push(...layoutIssues(c, cloud));
  issues.push(
    ...overlapIssues([
      { name: "network.appCidr", path: at("network", "appCidr"), cidr: cloud.network.appCidr, where: c },
      { name: "network.dataCidr", path: at("network", "dataCidr"), cidr: cloud.network.dataCidr, where: c },
      { name: "cluster.serviceCidr", path: at("cluster", "serviceCidr"), cidr: cloud.cluster.serviceCidr, where: c },
    ]),
  );
  if (c === "alicloud" && cloud.cluster.apiAccessCidrs.length > 0) {
    issues.push({
      path: at("cluster", "apiAccessCidrs"),
      message:
        "ACK's public API server SLB cannot be limited to listed blocks by this program (ACK owns its listener): " +
        "remove the list and reach the API from the VPC (a runner in it, the VPN, a bastion)",
    });
  }
  cloud.cluster.apiAccessCidrs.forEach((block, i) => {
    if (WORLD_CIDRS.includes(block)) {
      issues.push({
        path: at("cluster", "apiAccessCidrs", i),
        message:
          "opens the Kubernetes API to the whole internet: list the operators' egress blocks (e.g. 203.0.113.0/24), or none for a private endpoint",
      });
    }
  });
  for (const g of ["app", "data"] as const) {
    const ng = cloud.cluster.nodeGroups[g];
    if (ng.min > ng.desired)
      issues.push({ path: at("cluster", "nodeGroups", g, "min"), message: `at most desired (${ng.desired})` });
    if (ng.desired > ng.max)
      issues.push({ path: at("cluster", "nodeGroups", g, "desired"), message: `at most max (${ng.max})` });
  }
  if (c === "aws" && cloud.data.kafka.mode === "managed" && kafkaBrokers % REQUIRED_ZONES !== 0) {
    issues.push({
      path: ["data", "kafka", "brokers"],
      message: `a multiple of ${REQUIRED_ZONES}: MSK places the same number of brokers in every zone`,
    });
  }
  return issues;
}

/**
 * The cloud's own rules for the two VPCs the network components build (infra/lib/vpc-rules.ts): what the cloud API
 * would refuse at `pulumi up` is refused here, on the field that decides the offending VPC. Overlap between the two
 * segments is left to `overlapIssues`, which suggests a free block.
 */
function layoutIssues(c: CloudName, cloud: CloudSpec): SectionIssue[] {
  let plan;
  try {
    plan = planNetwork(cloud.network.appCidr, cloud.network.dataCidr, cloud.zones);
  } catch {
    return []; // too few zones or blocks too small: reported by their own checks
  }
  const problems = vpcLayoutProblems(networkLayout(c, plan)).filter((p) => !/ overlaps /.test(p) || /reserved/.test(p));
  const first = problems[0];
  if (first === undefined) return [];
  const field = /VPC app:/.test(first) ? "appCidr" : "dataCidr";
  return [{ path: ["clouds", c, "network", field], message: `${c} would refuse it: ${first}` }];
}

interface PathCidr {
  name: string;
  path: Array<string | number>;
  cidr: string;
  where: string;
}

/** The first overlap among `blocks`, reported on the later field with a disjoint block of the same size to use instead. */
function overlapIssues(blocks: PathCidr[]): SectionIssue[] {
  const valid = blocks.filter((b) => cidrProblem(b.cidr) === null);
  const named: NamedCidr[] = valid.map((b) => ({ name: b.path.join("."), cidr: b.cidr }));
  const hit = findOverlap(named);
  if (hit === null) return [];
  const [first, second] = hit;
  const later = valid.find((b) => b.path.join(".") === second.name);
  if (later === undefined) return [];
  const free = nextFreeBlock(
    parseCidr(second.cidr),
    named.filter((n) => n !== second).map((n) => parseCidr(n.cidr)),
  );
  const fix = free === null ? "choose a disjoint block" : `choose a disjoint block such as ${free}`;
  return [{ path: later.path, message: `overlaps ${first.name} (${first.cidr}): ${fix}` }];
}

function checkCrossCloudOverlap(clouds: CloudsSpec): SectionIssue[] {
  const aws = clouds.aws;
  const ali = clouds.alicloud;
  if (aws === undefined || ali === undefined) return [];
  const blocks = (c: CloudName, s: CloudSpec): PathCidr[] => [
    { name: "network.appCidr", path: ["clouds", c, "network", "appCidr"], cidr: s.network.appCidr, where: c },
    { name: "network.dataCidr", path: ["clouds", c, "network", "dataCidr"], cidr: s.network.dataCidr, where: c },
    {
      name: "cluster.serviceCidr",
      path: ["clouds", c, "cluster", "serviceCidr"],
      cidr: s.cluster.serviceCidr,
      where: c,
    },
  ];
  const all = [...blocks("aws", aws), ...blocks("alicloud", ali)].filter((b) => cidrProblem(b.cidr) === null);
  // The VPN routes every VPC block of one cloud to the other, so they must be disjoint; a Service range must not
  // shadow an address on the other side either. Two Service ranges never leave their clusters and may coincide.
  for (const x of all.filter((b) => b.where === "alicloud")) {
    for (const y of all.filter((b) => b.where === "aws")) {
      if (x.name === "cluster.serviceCidr" && y.name === "cluster.serviceCidr") continue;
      if (!overlaps(parseCidr(x.cidr), parseCidr(y.cidr))) continue;
      const free = nextFreeBlock(
        parseCidr(x.cidr),
        all.filter((o) => o !== x).map((o) => parseCidr(o.cidr)),
      );
      const fix = free === null ? "choose a disjoint block" : `choose a disjoint block such as ${free}`;
      return [
        { path: x.path, message: `overlaps ${y.path.join(".")} (${y.cidr}) on the other side of the VPN: ${fix}` },
      ];
    }
  }
  return [];
}

function suggestZone(c: CloudName, region: string, zones: readonly string[]): string {
  const sep = c === "alicloud" && region.startsWith("cn-") ? "-" : "";
  for (const letter of "abcdefghijk") {
    const zone = `${region}${sep}${letter}`;
    if (!zones.includes(zone)) return zone;
  }
  return exampleZone(c, region);
}
