/**
 * The AWS network of one stack: two VPCs joined by a VPC peering connection.
 * - The app VPC on the app segment: public and private subnets in three zones, NAT gateways, an S3 gateway
 *   endpoint for backups; the cluster, its nodes (both node groups) and the load balancer live here.
 * - The data VPC on the data segment's VPC block: data subnets in the same zones, no internet route at all; the
 *   managed data services (ElastiCache, MSK) live here.
 * Why two VPCs: AWS refuses to associate a block from another RFC 1918 range with a VPC whose primary block is in
 * 10.0.0.0/8 (the association-restrictions table of the Amazon VPC User Guide), so the seed's data segment
 * 172.16.0.0/12 cannot be a secondary block of the 10.0.0.0/16 VPC. infra/lib/vpc-rules.ts holds the rules and
 * this component refuses a layout that breaks them before declaring anything.
 * Peering (not a transit gateway): one link between two VPCs of one account and region needs no hub; peering has
 * no hourly charge (a transit gateway bills every attachment hourly) and the same per-GB price. Routes: the private
 * route tables send the data block over the peering, the data route tables send the app segment back; the data
 * security group admits only the app segment on the data ports (infra/lib/network-rules.ts).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { planNetwork, type NetworkPlan } from "../lib/cidr.ts";
import { ANYWHERE, firewallRules, type IngressRule, type SecurityGroupRole } from "../lib/network-rules.ts";
import { assertVpcLayout, networkLayout } from "../lib/vpc-rules.ts";

export interface AwsNetworkArgs {
  region: string;
  zones: readonly string[];
  /** The app segment: the VPC's primary block. */
  appCidr: string;
  /** The data segment; its VPC block (at most /16) is the data VPC's primary block. */
  dataCidr: string;
  /** `perZone` (default): a NAT gateway in every zone, so losing a zone keeps egress in the others. */
  natGateways?: "perZone" | "single";
  tags: Record<string, string>;
}

export class AwsNetwork extends pulumi.ComponentResource {
  readonly plan: NetworkPlan;
  /** The app VPC: cluster, nodes, load balancer. */
  readonly vpcId: pulumi.Output<string>;
  /** The data VPC: the managed data services. */
  readonly dataVpcId: pulumi.Output<string>;
  /** The peering connection between the two. */
  readonly peeringId: pulumi.Output<string>;
  readonly publicSubnetIds: pulumi.Output<string>[];
  readonly privateSubnetIds: pulumi.Output<string>[];
  readonly dataSubnetIds: pulumi.Output<string>[];
  /** Route tables of the private subnets (app VPC): where routes to a peer cloud's app segment go. */
  readonly internalRouteTableIds: pulumi.Output<string>[];
  /** Route tables of the data subnets (data VPC). */
  readonly dataRouteTableIds: pulumi.Output<string>[];
  readonly securityGroupIds: Record<SecurityGroupRole, pulumi.Output<string>>;

  constructor(name: string, args: AwsNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:network:AwsNetwork", name, {}, opts);
    const plan = planNetwork(args.appCidr, args.dataCidr, args.zones);
    assertVpcLayout(networkLayout("aws", plan));
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
    const dataVpc = new aws.ec2.Vpc(
      `${name}-data-vpc`,
      {
        cidrBlock: plan.dataVpcCidr,
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: tagged("data-vpc", { tier: "data" }),
      },
      child,
    );
    // Same account, same region: the requester may accept its own request.
    const peering = new aws.ec2.VpcPeeringConnection(
      `${name}-app-data`,
      { vpcId: vpc.id, peerVpcId: dataVpc.id, autoAccept: true, tags: tagged("app-data-peering") },
      child,
    );
    new aws.ec2.PeeringConnectionOptions(
      `${name}-app-data`,
      {
        vpcPeeringConnectionId: peering.id,
        // The services resolve the managed endpoints' private names from the app VPC.
        accepter: { allowRemoteVpcDnsResolution: true },
        requester: { allowRemoteVpcDnsResolution: true },
      },
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
          vpcId: tier === "data" ? dataVpc.id : vpc.id,
          cidrBlock: cidr,
          availabilityZone: zone,
          mapPublicIpOnLaunch: false,
          tags: tagged(`${tier}-${zone}`, { tier, ...extraTags }),
        },
        child,
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

    // Private subnets leave through their zone's NAT gateway (egress only: image pulls, updates) and reach the data
    // VPC over the peering. The data subnets have no route to the internet at all: only the app segment, back over
    // the peering (the managed data services need no egress).
    const internal = privates.map((s, i) => {
      const rt = new aws.ec2.RouteTable(
        `${name}-private-rt-${i + 1}`,
        { vpcId: vpc.id, tags: tagged(`private-rt-${i + 1}`, { tier: "private" }) },
        child,
      );
      const nat = nats[Math.min(i, nats.length - 1)];
      if (nat !== undefined)
        new aws.ec2.Route(
          `${name}-private-default-${i + 1}`,
          { routeTableId: rt.id, destinationCidrBlock: ANYWHERE, natGatewayId: nat.id },
          child,
        );
      new aws.ec2.Route(
        `${name}-private-to-data-${i + 1}`,
        { routeTableId: rt.id, destinationCidrBlock: plan.dataVpcCidr, vpcPeeringConnectionId: peering.id },
        child,
      );
      new aws.ec2.RouteTableAssociation(`${name}-private-${i + 1}`, { subnetId: s.id, routeTableId: rt.id }, child);
      return rt;
    });
    const dataRoutes = datas.map((s, i) => {
      const rt = new aws.ec2.RouteTable(
        `${name}-data-rt-${i + 1}`,
        { vpcId: dataVpc.id, tags: tagged(`data-rt-${i + 1}`, { tier: "data" }) },
        child,
      );
      new aws.ec2.Route(
        `${name}-data-to-app-${i + 1}`,
        { routeTableId: rt.id, destinationCidrBlock: plan.appCidr, vpcPeeringConnectionId: peering.id },
        child,
      );
      new aws.ec2.RouteTableAssociation(`${name}-data-${i + 1}`, { subnetId: s.id, routeTableId: rt.id }, child);
      return rt;
    });
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

    const rules = firewallRules({ appCidr: plan.appCidr, dataVpcCidr: plan.dataVpcCidr });
    const groups = {} as Record<SecurityGroupRole, aws.ec2.SecurityGroup>;
    for (const role of ["lb", "app", "data"] as const) {
      groups[role] = new aws.ec2.SecurityGroup(
        `${name}-${role}`,
        {
          // The data group guards the data VPC; the load balancer's and the app's guard the app VPC.
          vpcId: role === "data" ? dataVpc.id : vpc.id,
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
    this.dataVpcId = dataVpc.id;
    this.peeringId = peering.id;
    this.publicSubnetIds = publics.map((s) => s.id);
    this.privateSubnetIds = privates.map((s) => s.id);
    this.dataSubnetIds = datas.map((s) => s.id);
    this.internalRouteTableIds = internal.map((rt) => rt.id);
    this.securityGroupIds = { lb: groups.lb.id, app: groups.app.id, data: groups.data.id };
    this.dataRouteTableIds = dataRoutes.map((rt) => rt.id);
    this.registerOutputs({
      vpcId: this.vpcId,
      dataVpcId: this.dataVpcId,
      peeringId: this.peeringId,
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
