/**
 * The AWS network of one stack: a VPC whose primary block is the app segment and whose secondary block is the data
 * segment, public / private / data subnets in three zones, NAT gateways, an S3 gateway endpoint for backups, and
 * the three security groups of infra/lib/network-rules.ts (the data tier accepts only the app segment).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { planNetwork, type NetworkPlan } from "../lib/cidr.ts";
import { ANYWHERE, firewallRules, type IngressRule, type SecurityGroupRole } from "../lib/network-rules.ts";

export interface AwsNetworkArgs {
  region: string;
  zones: readonly string[];
  /** The app segment: the VPC's primary block. */
  appCidr: string;
  /** The data segment; its VPC block (at most /16) is associated as a secondary block. */
  dataCidr: string;
  /** `perZone` (default): a NAT gateway in every zone, so losing a zone keeps egress in the others. */
  natGateways?: "perZone" | "single";
  /** The Alibaba Cloud data segment when the clouds are joined: allowed into the data tier. */
  peerDataCidr?: string;
  tags: Record<string, string>;
}

export class AwsNetwork extends pulumi.ComponentResource {
  readonly plan: NetworkPlan;
  readonly vpcId: pulumi.Output<string>;
  readonly publicSubnetIds: pulumi.Output<string>[];
  readonly privateSubnetIds: pulumi.Output<string>[];
  readonly dataSubnetIds: pulumi.Output<string>[];
  /** Route tables of the private and data subnets: where routes to a peer network go. */
  readonly internalRouteTableIds: pulumi.Output<string>[];
  readonly securityGroupIds: Record<SecurityGroupRole, pulumi.Output<string>>;

  constructor(name: string, args: AwsNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:network:AwsNetwork", name, {}, opts);
    const plan = planNetwork(args.appCidr, args.dataCidr, args.zones);
    const tagged = (resource: string, extra: Record<string, string> = {}) => ({
      ...args.tags,
      Name: `${name}-${resource}`,
      ...extra,
    });
    const child = { parent: this };

    const vpc = new aws.ec2.Vpc(
      `${name}-vpc`,
      { cidrBlock: plan.appCidr, enableDnsHostnames: true, enableDnsSupport: true, tags: tagged("vpc") },
      child,
    );
    const dataBlock = new aws.ec2.VpcIpv4CidrBlockAssociation(
      `${name}-data-block`,
      { vpcId: vpc.id, cidrBlock: plan.dataVpcCidr },
      child,
    );
    const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: tagged("igw") }, child);

    const subnet = (
      tier: "public" | "private" | "data",
      i: number,
      cidr: string,
      zone: string,
      extraTags: Record<string, string>,
    ) =>
      new aws.ec2.Subnet(
        `${name}-${tier}-${i + 1}`,
        // No subnet hands out public addresses: load balancers get theirs from the LB service, nodes never do.
        {
          vpcId: vpc.id,
          cidrBlock: cidr,
          availabilityZone: zone,
          mapPublicIpOnLaunch: false,
          tags: tagged(`${tier}-${zone}`, { tier, ...extraTags }),
        },
        tier === "data" ? { parent: this, dependsOn: [dataBlock] } : child,
      );
    const publics = plan.zones.map((z, i) => subnet("public", i, z.public, z.zone, { "kubernetes.io/role/elb": "1" }));
    const privates = plan.zones.map((z, i) =>
      subnet("private", i, z.private, z.zone, { "kubernetes.io/role/internal-elb": "1" }),
    );
    const datas = plan.zones.map((z, i) => subnet("data", i, z.data, z.zone, {}));

    const publicRoutes = new aws.ec2.RouteTable(
      `${name}-public-rt`,
      { vpcId: vpc.id, tags: tagged("public-rt", { tier: "public" }) },
      child,
    );
    new aws.ec2.Route(
      `${name}-public-default`,
      { routeTableId: publicRoutes.id, destinationCidrBlock: ANYWHERE, gatewayId: igw.id },
      child,
    );
    publics.forEach(
      (s, i) =>
        new aws.ec2.RouteTableAssociation(
          `${name}-public-${i + 1}`,
          { subnetId: s.id, routeTableId: publicRoutes.id },
          child,
        ),
    );

    const natCount = (args.natGateways ?? "perZone") === "perZone" ? plan.zones.length : 1;
    const nats = publics.slice(0, natCount).map((s, i) => {
      const eip = new aws.ec2.Eip(`${name}-nat-${i + 1}`, { domain: "vpc", tags: tagged(`nat-${i + 1}`) }, child);
      return new aws.ec2.NatGateway(
        `${name}-nat-${i + 1}`,
        { allocationId: eip.id, subnetId: s.id, tags: tagged(`nat-${i + 1}`) },
        { parent: this, dependsOn: [igw] },
      );
    });

    // Private and data subnets leave through their zone's NAT gateway (egress only: image pulls, updates). The
    // data tier has no route from the internet and no public address.
    const internal: aws.ec2.RouteTable[] = [];
    for (const [tier, subnets] of [
      ["private", privates],
      ["data", datas],
    ] as const) {
      subnets.forEach((s, i) => {
        const rt = new aws.ec2.RouteTable(
          `${name}-${tier}-rt-${i + 1}`,
          { vpcId: vpc.id, tags: tagged(`${tier}-rt-${i + 1}`, { tier }) },
          child,
        );
        const nat = nats[Math.min(i, nats.length - 1)];
        if (nat !== undefined)
          new aws.ec2.Route(
            `${name}-${tier}-default-${i + 1}`,
            { routeTableId: rt.id, destinationCidrBlock: ANYWHERE, natGatewayId: nat.id },
            child,
          );
        new aws.ec2.RouteTableAssociation(`${name}-${tier}-${i + 1}`, { subnetId: s.id, routeTableId: rt.id }, child);
        internal.push(rt);
      });
    }
    // Backups to S3 stay inside AWS's network and skip the NAT gateways' per-GB charge.
    new aws.ec2.VpcEndpoint(
      `${name}-s3`,
      {
        vpcId: vpc.id,
        serviceName: `com.amazonaws.${args.region}.s3`,
        vpcEndpointType: "Gateway",
        routeTableIds: internal.map((rt) => rt.id),
        tags: tagged("s3"),
      },
      child,
    );

    const rules = firewallRules({
      appCidr: plan.appCidr,
      dataVpcCidr: plan.dataVpcCidr,
      peerDataCidr: args.peerDataCidr,
    });
    const groups = {} as Record<SecurityGroupRole, aws.ec2.SecurityGroup>;
    for (const role of ["lb", "app", "data"] as const) {
      groups[role] = new aws.ec2.SecurityGroup(
        `${name}-${role}`,
        {
          vpcId: vpc.id,
          description: `im ${role} tier`,
          egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: [ANYWHERE], description: "all egress" }],
          tags: tagged(`sg-${role}`, { tier: role }),
        },
        child,
      );
    }
    // Rules are separate resources so that a group may name another group (app accepts lb) without a cycle.
    for (const rule of rules) ingressRule(`${name}-${rule.group}-${rule.key}`, rule, groups, this);

    this.plan = plan;
    this.vpcId = vpc.id;
    this.publicSubnetIds = publics.map((s) => s.id);
    this.privateSubnetIds = privates.map((s) => s.id);
    this.dataSubnetIds = datas.map((s) => s.id);
    this.internalRouteTableIds = internal.map((rt) => rt.id);
    this.securityGroupIds = { lb: groups.lb.id, app: groups.app.id, data: groups.data.id };
    this.registerOutputs({
      vpcId: this.vpcId,
      privateSubnetIds: this.privateSubnetIds,
      dataSubnetIds: this.dataSubnetIds,
      securityGroupIds: this.securityGroupIds,
    });
  }
}

function ingressRule(
  name: string,
  rule: IngressRule,
  groups: Record<SecurityGroupRole, aws.ec2.SecurityGroup>,
  parent: pulumi.Resource,
): aws.vpc.SecurityGroupIngressRule {
  const source =
    "cidr" in rule.source
      ? { cidrIpv4: rule.source.cidr }
      : { referencedSecurityGroupId: groups[rule.source.group].id };
  return new aws.vpc.SecurityGroupIngressRule(
    name,
    {
      securityGroupId: groups[rule.group].id,
      ipProtocol: rule.protocol,
      fromPort: rule.ports.from,
      toPort: rule.ports.to,
      description: rule.description,
      ...source,
    },
    { parent },
  );
}
