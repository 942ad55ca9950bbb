/**
 * The Alibaba Cloud network of one stack: a VPC whose primary block is the app segment and whose secondary block is
 * the data segment, public / private / data vSwitches in three zones, Enhanced NAT gateways with an EIP and SNAT
 * entries, per-zone route tables, and the security groups of infra/lib/network-rules.ts.
 */
import * as alicloud from "@pulumi/alicloud";
import * as pulumi from "@pulumi/pulumi";
import { planNetwork, type NetworkPlan } from "../lib/cidr.ts";
import { ANYWHERE, firewallRules, type SecurityGroupRole } from "../lib/network-rules.ts";

export interface AlicloudNetworkArgs {
  zones: readonly string[];
  appCidr: string;
  dataCidr: string;
  /** `perZone` (default) or `single`. */
  natGateways?: "perZone" | "single";
  /** The AWS data segment when the clouds are joined: allowed into the data tier. */
  peerDataCidr?: string;
  tags: Record<string, string>;
}

export class AlicloudNetwork extends pulumi.ComponentResource {
  readonly plan: NetworkPlan;
  readonly vpcId: pulumi.Output<string>;
  readonly publicVswitchIds: pulumi.Output<string>[];
  readonly privateVswitchIds: pulumi.Output<string>[];
  readonly dataVswitchIds: pulumi.Output<string>[];
  /** The per-zone route tables of the private and data vSwitches: where routes to a peer network go. */
  readonly internalRouteTableIds: pulumi.Output<string>[];
  readonly securityGroupIds: Record<SecurityGroupRole, pulumi.Output<string>>;

  constructor(name: string, args: AlicloudNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:network:AlicloudNetwork", name, {}, opts);
    const plan = planNetwork(args.appCidr, args.dataCidr, args.zones);
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
    const dataBlock = new alicloud.vpc.Ipv4CidrBlock(
      `${name}-data-block`,
      { vpcId: vpc.id, secondaryCidrBlock: plan.dataVpcCidr },
      child,
    );

    const vswitch = (tier: "public" | "private" | "data", i: number, cidr: string, zone: string) =>
      new alicloud.vpc.Switch(
        `${name}-${tier}-${i + 1}`,
        {
          vpcId: vpc.id,
          cidrBlock: cidr,
          zoneId: zone,
          vswitchName: `${name}-${tier}-${zone}`,
          tags: tags(`${tier}-${zone}`, { tier }),
        },
        tier === "data" ? { parent: this, dependsOn: [dataBlock] } : child,
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

    // One route table per zone for its private and data vSwitches: each zone leaves through its own NAT gateway.
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
      for (const [tier, list] of [
        ["private", privates],
        ["data", datas],
      ] as const) {
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

    const groups = {} as Record<SecurityGroupRole, alicloud.ecs.SecurityGroup>;
    for (const role of ["lb", "app", "data"] as const) {
      groups[role] = new alicloud.ecs.SecurityGroup(
        `${name}-${role}`,
        {
          vpcId: vpc.id,
          securityGroupName: `${name}-${role}`,
          description: `im ${role} tier`,
          securityGroupType: "normal",
          tags: tags(`sg-${role}`, { tier: role }),
        },
        child,
      );
    }
    for (const rule of firewallRules({
      appCidr: plan.appCidr,
      dataVpcCidr: plan.dataVpcCidr,
      peerDataCidr: args.peerDataCidr,
    })) {
      const source =
        "cidr" in rule.source ? { cidrIp: rule.source.cidr } : { sourceSecurityGroupId: groups[rule.source.group].id };
      new alicloud.ecs.SecurityGroupRule(
        `${name}-${rule.group}-${rule.key}`,
        {
          securityGroupId: groups[rule.group].id,
          type: "ingress",
          ipProtocol: rule.protocol,
          portRange: `${rule.ports.from === 0 ? 1 : rule.ports.from}/${rule.ports.to}`,
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
    this.publicVswitchIds = publics.map((s) => s.id);
    this.privateVswitchIds = privates.map((s) => s.id);
    this.dataVswitchIds = datas.map((s) => s.id);
    this.internalRouteTableIds = internal.map((rt) => rt.id);
    this.securityGroupIds = { lb: groups.lb.id, app: groups.app.id, data: groups.data.id };
    this.registerOutputs({
      vpcId: this.vpcId,
      privateVswitchIds: this.privateVswitchIds,
      dataVswitchIds: this.dataVswitchIds,
      securityGroupIds: this.securityGroupIds,
    });
  }
}
