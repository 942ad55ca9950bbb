/**
 * The multicloud interconnect: an AWS Site-to-Site VPN (one connection, two tunnels) facing an Alibaba Cloud VPN
 * gateway (one IPsec connection per AWS tunnel, the first preferred, the second standby), with static routes for
 * the other side's blocks on both. The blocks of the two sides are checked for overlap before anything is declared
 * (the spec checks it too; this guards a caller that builds the arguments itself).
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
  /** The two AWS tunnel endpoints, as the Alibaba Cloud customer gateways see them. */
  readonly tunnelAddresses: pulumi.Output<string>[];
  readonly alicloudGatewayIp: pulumi.Output<string>;

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
    super("im:network:IpsecVpn", name, {}, opts);
    const ike = args.ikeVersion ?? "ikev2";
    const onAws = { parent: this, provider: args.providers.aws };
    const onAli = { parent: this, provider: args.providers.alicloud };

    const aliGateway = new alicloud.vpn.Gateway(
      `${name}-ali-gateway`,
      {
        vpcId: args.alicloud.vpcId,
        vswitchId: args.alicloud.vswitchId,
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
    const cgw = new aws.ec2.CustomerGateway(
      `${name}-aws-cgw`,
      {
        type: "ipsec.1",
        ipAddress: aliGateway.internetIp,
        bgpAsn: ALICLOUD_VPN_ASN,
        tags: { ...args.tags, Name: `${name}-aws-cgw` },
      },
      onAws,
    );
    const phase = { encryption: ["AES256"], integrity: ["SHA2-256"], dh: [PROPOSAL.dhGroup] };
    const connection = new aws.ec2.VpnConnection(
      `${name}-aws-connection`,
      {
        type: "ipsec.1",
        vpnGatewayId: vgw.id,
        customerGatewayId: cgw.id,
        staticRoutesOnly: true,
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
        tags: { ...args.tags, Name: `${name}-aws-connection` },
      },
      onAws,
    );
    args.alicloud.cidrs.forEach((cidr, i) => {
      new aws.ec2.VpnConnectionRoute(
        `${name}-aws-to-ali-${i + 1}`,
        { vpnConnectionId: connection.id, destinationCidrBlock: cidr },
        onAws,
      );
      args.aws.routeTableIds.forEach((rt, j) => {
        new aws.ec2.Route(
          `${name}-aws-rt-${j + 1}-to-ali-${i + 1}`,
          { routeTableId: rt, destinationCidrBlock: cidr, gatewayId: vgw.id },
          onAws,
        );
      });
    });

    // One Alibaba Cloud connection per AWS tunnel, each keyed with that tunnel's pre-shared key (AWS generates
    // them; they stay secrets in the state and never appear in the stack file).
    const tunnels = [
      { n: 1, address: connection.tunnel1Address, psk: connection.tunnel1PresharedKey, weight: 100 },
      { n: 2, address: connection.tunnel2Address, psk: connection.tunnel2PresharedKey, weight: 0 },
    ] as const;
    const aliConnections = tunnels.map((t) => {
      const customer = new alicloud.vpn.CustomerGateway(
        `${name}-ali-cgw-${t.n}`,
        { ipAddress: t.address, customerGatewayName: `${name}-aws-tunnel-${t.n}`, tags: args.tags },
        onAli,
      );
      return new alicloud.vpn.Connection(
        `${name}-ali-connection-${t.n}`,
        {
          vpnGatewayId: aliGateway.id,
          customerGatewayId: customer.id,
          vpnConnectionName: `${name}-aws-tunnel-${t.n}`,
          localSubnets: [...args.alicloud.cidrs],
          remoteSubnets: [...args.aws.cidrs],
          effectImmediately: true,
          ikeConfig: {
            ikeVersion: ike,
            ikeMode: "main",
            ikeEncAlg: PROPOSAL.encryption,
            ikeAuthAlg: PROPOSAL.integrity,
            ikePfs: `group${PROPOSAL.dhGroup}`,
            psk: pulumi.secret(t.psk),
          },
          ipsecConfig: {
            ipsecEncAlg: PROPOSAL.encryption,
            ipsecAuthAlg: PROPOSAL.integrity,
            ipsecPfs: `group${PROPOSAL.dhGroup}`,
          },
          tags: args.tags,
        },
        onAli,
      );
    });
    args.aws.cidrs.forEach((cidr, i) => {
      // Tunnel 1 carries traffic (weight 100); tunnel 2 takes over when it is down (weight 0).
      tunnels.forEach((t, k) => {
        const conn = aliConnections[k];
        if (conn === undefined) return;
        new alicloud.vpn.RouteEntry(
          `${name}-ali-to-aws-${i + 1}-tunnel-${t.n}`,
          { vpnGatewayId: aliGateway.id, routeDest: cidr, nextHop: conn.id, weight: t.weight, publishVpc: false },
          onAli,
        );
      });
      args.alicloud.routeTableIds.forEach((rt, j) => {
        new alicloud.vpc.RouteEntry(
          `${name}-ali-rt-${j + 1}-to-aws-${i + 1}`,
          { routeTableId: rt, destinationCidrblock: cidr, nexthopType: "VpnGateway", nexthopId: aliGateway.id },
          onAli,
        );
      });
    });

    this.tunnelAddresses = [connection.tunnel1Address, connection.tunnel2Address];
    this.alicloudGatewayIp = aliGateway.internetIp;
    this.registerOutputs({ tunnelAddresses: this.tunnelAddresses, alicloudGatewayIp: this.alicloudGatewayIp });
  }
}
