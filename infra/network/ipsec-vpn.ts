/**
 * The multicloud interconnect, for operators: it carries the two app segments only (nothing of the data tier
 * crosses; each cloud runs its own). An Alibaba Cloud VPN gateway in dual-tunnel mode (two zones: a vSwitch and a
 * disaster-recovery vSwitch, each with its own public address, as Alibaba Cloud requires in the regions that offer
 * dual tunnels) faces two AWS Site-to-Site VPN connections, one per Alibaba address (an AWS connection's two tunnels
 * end on one customer gateway address). The Alibaba IPsec connection's master tunnel pairs with the first AWS
 * connection's tunnel 1 and its slave tunnel with the second's tunnel 1: every hop survives the loss of one zone or
 * one AWS endpoint; each AWS connection's tunnel 2 stays idle (AWS reports it down). One local and one remote block
 * per tunnel: a single IPsec SA per tunnel, which AWS's policy of one SA pair per tunnel accepts.
 * The blocks of the two sides are checked for overlap before anything is declared.
 */
import * as alicloud from "@pulumi/alicloud";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { findOverlap } from "../lib/cidr.ts";

export interface VpnSide<RouteTables> {
  vpcId: pulumi.Input<string>;
  /** Every block of this side that the other side must reach (the app segment and the data VPC block). */
  cidrs: readonly string[];
  /** Route tables that get a route to each of the other side's blocks. */
  routeTableIds: RouteTables;
}

export interface IpsecVpnArgs {
  aws: VpnSide<pulumi.Input<string>[]>;
  alicloud: VpnSide<pulumi.Input<string>[]> & {
    /** The vSwitch the VPN gateway is placed in. */
    vswitchId: pulumi.Input<string>;
    /** A vSwitch in another zone: the gateway's second (disaster-recovery) tunnel endpoint. */
    disasterRecoveryVswitchId: pulumi.Input<string>;
  };
  /** Default ikev2. */
  ikeVersion?: "ikev1" | "ikev2";
  /** Alibaba Cloud VPN gateway bandwidth, Mbit/s. Default 100. */
  bandwidthMbps?: number;
  tags: Record<string, string>;
  providers: { aws: aws.Provider; alicloud: alicloud.Provider };
}

/** Raised before any resource is declared when the two sides' blocks overlap (routing would be ambiguous). */
export class VpnOverlapError extends Error {
  override readonly name = "VpnOverlapError";
}

/** ASN of the Alibaba Cloud VPN gateway, required by AWS for the customer gateway even with static routing. */
export const ALICLOUD_VPN_ASN = "45104";
/** Both sides agree on one proposal: AES-256, SHA-256, DH group 14 in both phases. */
const PROPOSAL = { encryption: "aes256", integrity: "sha256", dhGroup: 14 } as const;

export class IpsecVpn extends pulumi.ComponentResource {
  /** The two AWS tunnel endpoints in use, as the Alibaba Cloud customer gateways see them. */
  readonly tunnelAddresses: pulumi.Output<string>[];
  readonly alicloudGatewayIp: pulumi.Output<string>;
  readonly alicloudDisasterRecoveryIp: pulumi.Output<string>;

  constructor(name: string, args: IpsecVpnArgs, opts?: pulumi.ComponentResourceOptions) {
    const overlap = findOverlap([
      ...args.aws.cidrs.map((cidr) => ({ name: `aws ${cidr}`, cidr })),
      ...args.alicloud.cidrs.map((cidr) => ({ name: `alicloud ${cidr}`, cidr })),
    ]);
    if (overlap !== null) {
      throw new VpnOverlapError(
        `${name}: ${overlap[1].name} overlaps ${overlap[0].name}: the VPN cannot route between overlapping blocks; give one side a disjoint block`,
      );
    }
    if (args.aws.cidrs.length !== 1 || args.alicloud.cidrs.length !== 1)
      throw new VpnOverlapError(
        `${name}: one block per side (got ${args.aws.cidrs.length} and ${args.alicloud.cidrs.length}): AWS negotiates ` +
          "one SA pair per tunnel, so each tunnel's traffic selectors must be one local and one remote block",
      );
    super("im:network:IpsecVpn", name, {}, opts);
    const ike = args.ikeVersion ?? "ikev2";
    const onAws = { parent: this, provider: args.providers.aws };
    const onAli = { parent: this, provider: args.providers.alicloud };

    const aliGateway = new alicloud.vpn.Gateway(
      `${name}-ali-gateway`,
      {
        vpcId: args.alicloud.vpcId,
        vswitchId: args.alicloud.vswitchId,
        disasterRecoveryVswitchId: args.alicloud.disasterRecoveryVswitchId,
        bandwidth: args.bandwidthMbps ?? 100,
        enableIpsec: true,
        enableSsl: false,
        paymentType: "PayAsYouGo",
        vpnGatewayName: `${name}-ali-gateway`,
        tags: args.tags,
      },
      onAli,
    );
    const vgw = new aws.ec2.VpnGateway(
      `${name}-aws-vgw`,
      { vpcId: args.aws.vpcId, tags: { ...args.tags, Name: `${name}-aws-vgw` } },
      onAws,
    );
    const phase = { encryption: ["AES256"], integrity: ["SHA2-256"], dh: [PROPOSAL.dhGroup] };
    // One AWS connection per Alibaba Cloud address (the gateway's own and its disaster-recovery one).
    const awsSides = (
      [
        ["a", aliGateway.internetIp],
        ["b", aliGateway.disasterRecoveryInternetIp],
      ] as const
    ).map(([key, ip]) => {
      const cgw = new aws.ec2.CustomerGateway(
        `${name}-aws-cgw-${key}`,
        {
          type: "ipsec.1",
          ipAddress: ip,
          bgpAsn: ALICLOUD_VPN_ASN,
          tags: { ...args.tags, Name: `${name}-aws-cgw-${key}` },
        },
        onAws,
      );
      const connection = new aws.ec2.VpnConnection(
        `${name}-aws-connection-${key}`,
        {
          type: "ipsec.1",
          vpnGatewayId: vgw.id,
          customerGatewayId: cgw.id,
          staticRoutesOnly: true,
          // Traffic selectors: exactly the two app segments, so each tunnel negotiates a single SA pair.
          localIpv4NetworkCidr: args.alicloud.cidrs[0],
          remoteIpv4NetworkCidr: args.aws.cidrs[0],
          tunnel1IkeVersions: [ike],
          tunnel1Phase1EncryptionAlgorithms: phase.encryption,
          tunnel1Phase1IntegrityAlgorithms: phase.integrity,
          tunnel1Phase1DhGroupNumbers: phase.dh,
          tunnel1Phase2EncryptionAlgorithms: phase.encryption,
          tunnel1Phase2IntegrityAlgorithms: phase.integrity,
          tunnel1Phase2DhGroupNumbers: phase.dh,
          tunnel2IkeVersions: [ike],
          tunnel2Phase1EncryptionAlgorithms: phase.encryption,
          tunnel2Phase1IntegrityAlgorithms: phase.integrity,
          tunnel2Phase1DhGroupNumbers: phase.dh,
          tunnel2Phase2EncryptionAlgorithms: phase.encryption,
          tunnel2Phase2IntegrityAlgorithms: phase.integrity,
          tunnel2Phase2DhGroupNumbers: phase.dh,
          tags: { ...args.tags, Name: `${name}-aws-connection-${key}` },
        },
        onAws,
      );
      args.alicloud.cidrs.forEach((cidr, i) => {
        new aws.ec2.VpnConnectionRoute(
          `${name}-aws-${key}-to-ali-${i + 1}`,
          { vpnConnectionId: connection.id, destinationCidrBlock: cidr },
          onAws,
        );
      });
      return connection;
    });
    args.alicloud.cidrs.forEach((cidr, i) => {
      args.aws.routeTableIds.forEach((rt, j) => {
        new aws.ec2.Route(
          `${name}-aws-rt-${j + 1}-to-ali-${i + 1}`,
          { routeTableId: rt, destinationCidrBlock: cidr, gatewayId: vgw.id },
          onAws,
        );
      });
    });

    // The Alibaba Cloud side: one IPsec connection in dual-tunnel mode; the master tunnel faces the first AWS
    // connection's tunnel 1, the slave tunnel the second's, each keyed with that tunnel's pre-shared key (AWS
    // generates them; they stay secrets in the state and never appear in the stack file).
    const tunnels = awsSides.map((c, k) => ({
      n: k + 1,
      role: k === 0 ? "master" : "slave",
      address: c.tunnel1Address,
      psk: c.tunnel1PresharedKey,
    }));
    const customers = tunnels.map(
      (t) =>
        new alicloud.vpn.CustomerGateway(
          `${name}-ali-cgw-${t.n}`,
          { ipAddress: t.address, customerGatewayName: `${name}-aws-tunnel-${t.n}`, tags: args.tags },
          onAli,
        ),
    );
    const aliConnection = new alicloud.vpn.Connection(
      `${name}-ali-connection`,
      {
        vpnGatewayId: aliGateway.id,
        vpnConnectionName: `${name}-aws`,
        localSubnets: [...args.alicloud.cidrs],
        remoteSubnets: [...args.aws.cidrs],
        effectImmediately: true,
        tunnelOptionsSpecifications: tunnels.map((t, k) => ({
          role: t.role,
          customerGatewayId: customers[k]?.id ?? "",
          enableDpd: true,
          enableNatTraversal: true,
          tunnelIkeConfig: {
            ikeVersion: ike,
            ikeMode: "main",
            ikeEncAlg: PROPOSAL.encryption,
            ikeAuthAlg: PROPOSAL.integrity,
            ikePfs: `group${PROPOSAL.dhGroup}`,
            psk: pulumi.secret(t.psk),
          },
          tunnelIpsecConfig: {
            ipsecEncAlg: PROPOSAL.encryption,
            ipsecAuthAlg: PROPOSAL.integrity,
            ipsecPfs: `group${PROPOSAL.dhGroup}`,
          },
        })),
        tags: args.tags,
      },
      onAli,
    );
    args.aws.cidrs.forEach((cidr, i) => {
      new alicloud.vpn.RouteEntry(
        `${name}-ali-to-aws-${i + 1}`,
        { vpnGatewayId: aliGateway.id, routeDest: cidr, nextHop: aliConnection.id, weight: 100, publishVpc: false },
        onAli,
      );
      args.alicloud.routeTableIds.forEach((rt, j) => {
        new alicloud.vpc.RouteEntry(
          `${name}-ali-rt-${j + 1}-to-aws-${i + 1}`,
          { routeTableId: rt, destinationCidrblock: cidr, nexthopType: "VpnGateway", nexthopId: aliGateway.id },
          onAli,
        );
      });
    });

    this.tunnelAddresses = tunnels.map((t) => t.address);
    this.alicloudGatewayIp = aliGateway.internetIp;
    this.alicloudDisasterRecoveryIp = aliGateway.disasterRecoveryInternetIp;
    this.registerOutputs({ tunnelAddresses: this.tunnelAddresses, alicloudGatewayIp: this.alicloudGatewayIp });
  }
}
