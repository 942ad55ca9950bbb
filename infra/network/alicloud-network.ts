/**
 * The Alibaba Cloud network of one stack: two VPCs joined by an intra-region VPC peering connection.
 * - The app VPC on the app segment: public and private vSwitches in three zones, Enhanced NAT gateways with an EIP
 *   and SNAT entries, per-zone route tables; ACK, both node pools and the load balancer live here.
 * - The data VPC on the data segment's VPC block: data vSwitches in the same zones, no internet route; Tair and
 *   ApsaraMQ for Kafka live here.
 * Alibaba Cloud would accept the data segment as a secondary block of the app VPC (AssociateVpcCidrBlock takes any
 * RFC 1918 range, infra/lib/vpc-rules.ts), but ACK's node pools and Terway's pod vSwitches must sit in the cluster's
 * VPC either way, and two VPCs keep one design on both clouds: one firewall plan, one routing plan, one failure
 * model. The peering between two VPCs of one account is activated without an accepter step, and an intra-region
 * peering has no charge (Alibaba Cloud VPC peering billing); routes go both ways through it (next hop `VpcPeer`).
 */
import * as alicloud from "@pulumi/alicloud";
import * as pulumi from "@pulumi/pulumi";
import { planNetwork, type NetworkPlan } from "../lib/cidr.ts";
import { ANYWHERE, firewallRules, type SecurityGroupRole } from "../lib/network-rules.ts";
import { assertVpcLayout, networkLayout } from "../lib/vpc-rules.ts";

export interface AlicloudNetworkArgs {
  /** The region of both VPCs (the peering is intra-region). */
  region: string;
  zones: readonly string[];
  appCidr: string;
  dataCidr: string;
  /** `perZone` (default) or `single`. */
  natGateways?: "perZone" | "single";
  tags: Record<string, string>;
}

export class AlicloudNetwork extends pulumi.ComponentResource {
  readonly plan: NetworkPlan;
  /** The app VPC: ACK, its node pools, the load balancer. */
  readonly vpcId: pulumi.Output<string>;
  /** The data VPC: Tair and ApsaraMQ for Kafka. */
  readonly dataVpcId: pulumi.Output<string>;
  readonly peeringId: pulumi.Output<string>;
  readonly publicVswitchIds: pulumi.Output<string>[];
  readonly privateVswitchIds: pulumi.Output<string>[];
  readonly dataVswitchIds: pulumi.Output<string>[];
  /** The per-zone route tables of the private vSwitches (app VPC): where routes to a peer cloud go. */
  readonly internalRouteTableIds: pulumi.Output<string>[];
  readonly securityGroupIds: Record<SecurityGroupRole, pulumi.Output<string>>;

  constructor(name: string, args: AlicloudNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:network:AlicloudNetwork", name, {}, opts);
    const plan = planNetwork(args.appCidr, args.dataCidr, args.zones);
    assertVpcLayout(networkLayout("alicloud", plan));
    const tags = (resource: string, extra: Record<string, string> = {}) => ({
      ...args.tags,
      Name: `${name}-${resource}`,
      ...extra,
    });
    const child = { parent: this };

    const vpc = new alicloud.vpc.Network(
      `${name}-vpc`,
      { vpcName: `${name}-vpc`, cidrBlock: plan.appCidr, tags: tags("vpc") },
      child,
    );
    const dataVpc = new alicloud.vpc.Network(
      `${name}-data-vpc`,
      { vpcName: `${name}-data-vpc`, cidrBlock: plan.dataVpcCidr, tags: tags("data-vpc", { tier: "data" }) },
      child,
    );
    const peering = new alicloud.vpc.PeerConnection(
      `${name}-app-data`,
      {
        peerConnectionName: `${name}-app-data`,
        vpcId: vpc.id,
        acceptingVpcId: dataVpc.id,
        acceptingRegionId: args.region,
        description: "im app VPC to data VPC",
        tags: tags("app-data-peering"),
      },
      child,
    );

    const vswitch = (tier: "public" | "private" | "data", i: number, cidr: string, zone: string) =>
      new alicloud.vpc.Switch(
        `${name}-${tier}-${i + 1}`,
        {
          vpcId: tier === "data" ? dataVpc.id : vpc.id,
          cidrBlock: cidr,
          zoneId: zone,
          vswitchName: `${name}-${tier}-${zone}`,
          tags: tags(`${tier}-${zone}`, { tier }),
        },
        child,
      );
    const publics = plan.zones.map((z, i) => vswitch("public", i, z.public, z.zone));
    const privates = plan.zones.map((z, i) => vswitch("private", i, z.private, z.zone));
    const datas = plan.zones.map((z, i) => vswitch("data", i, z.data, z.zone));

    // An Enhanced NAT gateway lives in a vSwitch of its zone and needs an EIP for SNAT.
    const natCount = (args.natGateways ?? "perZone") === "perZone" ? plan.zones.length : 1;
    const nats = publics.slice(0, natCount).map((s, i) => {
      const nat = new alicloud.vpc.NatGateway(
        `${name}-nat-${i + 1}`,
        {
          vpcId: vpc.id,
          vswitchId: s.id,
          natType: "Enhanced",
          networkType: "internet",
          paymentType: "PayAsYouGo",
          natGatewayName: `${name}-nat-${i + 1}`,
          tags: tags(`nat-${i + 1}`),
        },
        child,
      );
      const eip = new alicloud.ecs.EipAddress(
        `${name}-nat-${i + 1}`,
        {
          addressName: `${name}-nat-${i + 1}`,
          internetChargeType: "PayByTraffic",
          paymentType: "PayAsYouGo",
          tags: tags(`nat-${i + 1}`),
        },
        child,
      );
      const bound = new alicloud.ecs.EipAssociation(
        `${name}-nat-${i + 1}`,
        { allocationId: eip.id, instanceId: nat.id, instanceType: "Nat" },
        child,
      );
      return { nat, eip, bound };
    });

    // One route table per zone for its private vSwitch: each zone leaves through its own NAT gateway and reaches the
    // data VPC over the peering.
    const internal: alicloud.vpc.RouteTable[] = plan.zones.map((z, i) => {
      const rt = new alicloud.vpc.RouteTable(
        `${name}-rt-${i + 1}`,
        { vpcId: vpc.id, routeTableName: `${name}-rt-${z.zone}`, associateType: "VSwitch", tags: tags(`rt-${z.zone}`) },
        child,
      );
      const egress = nats[Math.min(i, nats.length - 1)];
      if (egress !== undefined) {
        new alicloud.vpc.RouteEntry(
          `${name}-default-${i + 1}`,
          { routeTableId: rt.id, destinationCidrblock: ANYWHERE, nexthopType: "NatGateway", nexthopId: egress.nat.id },
          child,
        );
      }
      new alicloud.vpc.RouteEntry(
        `${name}-private-to-data-${i + 1}`,
        { routeTableId: rt.id, destinationCidrblock: plan.dataVpcCidr, nexthopType: "VpcPeer", nexthopId: peering.id },
        child,
      );
      for (const [tier, list] of [["private", privates]] as const) {
        const sw = list[i];
        if (sw === undefined) continue;
        new alicloud.vpc.RouteTableAttachment(
          `${name}-${tier}-${i + 1}`,
          { routeTableId: rt.id, vswitchId: sw.id },
          child,
        );
        if (egress !== undefined) {
          new alicloud.vpc.SnatEntry(
            `${name}-${tier}-snat-${i + 1}`,
            {
              snatTableId: egress.nat.snatTableIds,
              sourceVswitchId: sw.id,
              snatIp: egress.eip.ipAddress,
              snatEntryName: `${name}-${tier}-${z.zone}`,
            },
            { parent: this, dependsOn: [egress.bound] },
          );
        }
      }
      return rt;
    });

    // The data vSwitches share one route table: back to the app segment over the peering, nothing to the internet.
    const dataRoutes = new alicloud.vpc.RouteTable(
      `${name}-data-rt`,
      { vpcId: dataVpc.id, routeTableName: `${name}-data-rt`, associateType: "VSwitch", tags: tags("data-rt") },
      child,
    );
    new alicloud.vpc.RouteEntry(
      `${name}-data-to-app`,
      {
        routeTableId: dataRoutes.id,
        destinationCidrblock: plan.appCidr,
        nexthopType: "VpcPeer",
        nexthopId: peering.id,
      },
      child,
    );
    datas.forEach(
      (sw, i) =>
        new alicloud.vpc.RouteTableAttachment(
          `${name}-data-${i + 1}`,
          { routeTableId: dataRoutes.id, vswitchId: sw.id },
          child,
        ),
    );

    const groups = {} as Record<SecurityGroupRole, alicloud.ecs.SecurityGroup>;
    for (const role of ["lb", "app", "data"] as const) {
      groups[role] = new alicloud.ecs.SecurityGroup(
        `${name}-${role}`,
        {
          vpcId: role === "data" ? dataVpc.id : vpc.id,
          securityGroupName: `${name}-${role}`,
          description: `im ${role} tier`,
          securityGroupType: "normal",
          tags: tags(`sg-${role}`, { tier: role }),
        },
        child,
      );
    }
    for (const rule of firewallRules({ appCidr: plan.appCidr, dataVpcCidr: plan.dataVpcCidr })) {
      const source =
        "cidr" in rule.source ? { cidrIp: rule.source.cidr } : { sourceSecurityGroupId: groups[rule.source.group].id };
      new alicloud.ecs.SecurityGroupRule(
        `${name}-${rule.group}-${rule.key}`,
        {
          securityGroupId: groups[rule.group].id,
          type: "ingress",
          ipProtocol: rule.protocol,
          // Alibaba Cloud writes "1/65535" for every TCP or UDP port and "-1/-1" for ICMP.
          portRange:
            rule.protocol === "icmp" ? "-1/-1" : `${rule.ports.from === 0 ? 1 : rule.ports.from}/${rule.ports.to}`,
          nicType: "intranet",
          policy: "accept",
          priority: 1,
          description: rule.description,
          ...source,
        },
        child,
      );
    }

    this.plan = plan;
    this.vpcId = vpc.id;
    this.dataVpcId = dataVpc.id;
    this.peeringId = peering.id;
    this.publicVswitchIds = publics.map((s) => s.id);
    this.privateVswitchIds = privates.map((s) => s.id);
    this.dataVswitchIds = datas.map((s) => s.id);
    this.internalRouteTableIds = internal.map((rt) => rt.id);
    this.securityGroupIds = { lb: groups.lb.id, app: groups.app.id, data: groups.data.id };
    this.registerOutputs({
      vpcId: this.vpcId,
      dataVpcId: this.dataVpcId,
      peeringId: this.peeringId,
      privateVswitchIds: this.privateVswitchIds,
      dataVswitchIds: this.dataVswitchIds,
      securityGroupIds: this.securityGroupIds,
    });
  }
}
