/**
 * The firewall plan both clouds implement: three groups (load balancer, app, data) and the ingress each accepts.
 * AWS turns it into security group rules, Alibaba Cloud into ECS security group rules; tests and the policy pack
 * read the same data. Pure.
 *
 * - lb: the only group open to the internet, and only on the listener ports (443, and 80 for the redirect).
 * - app: the cluster nodes and pods; reachable from the app segment and from the load balancer on NodePorts.
 * - data: the managed Redis and Kafka in the data VPC; reachable only from the app segment (over the VPC peering)
 *   on their ports, and from itself (replication between data nodes). Never from a peer cloud: nothing of the data
 *   tier crosses the VPN (each cloud runs its own; docs/cloud-stacks.md), and a VPC peering is not transitive, so
 *   the VPN attached to the app VPC could not carry it anyway.
 * The lb and app groups belong to the app VPC, the data group to the data VPC.
 */

export type SecurityGroupRole = "lb" | "app" | "data";

export interface PortRange {
  /** A stable short name, part of the rule's resource name. */
  readonly key: string;
  readonly from: number;
  readonly to: number;
  readonly what: string;
}

/** Every port a client of the data tier uses. */
export const DATA_PORTS: readonly PortRange[] = [
  { key: "tidb", from: 4000, to: 4000, what: "TiDB SQL" },
  { key: "redis", from: 6379, to: 6379, what: "Redis" },
  { key: "kafka", from: 9092, to: 9098, what: "Kafka listeners (plaintext, TLS, SASL, IAM)" },
];

/** The listener ports of the public load balancer: the only world-open ingress anywhere. */
export const LB_LISTENER_PORTS: readonly PortRange[] = [
  { key: "https", from: 443, to: 443, what: "HTTPS and WSS listener" },
  { key: "http", from: 80, to: 80, what: "HTTP listener (redirects to HTTPS)" },
];

/** Kubernetes NodePort range: the load balancer may forward to the edge proxy's (Traefik's) NodePorts. */
export const NODE_PORTS: PortRange = {
  key: "nodeports",
  from: 30000,
  to: 32767,
  what: "NodePorts of the ingress controller",
};

export const ANYWHERE = "0.0.0.0/0";

const ALL_TCP: PortRange = { key: "all", from: 0, to: 65535, what: "all TCP" };
const ALL_UDP: PortRange = { key: "udp", from: 0, to: 65535, what: "all UDP" };
/** ICMP has no ports: -1 stands for every type and code on both clouds. */
const ALL_ICMP: PortRange = { key: "icmp", from: -1, to: -1, what: "ICMP" };

export type RuleSource = { readonly cidr: string } | { readonly group: SecurityGroupRole };

export interface IngressRule {
  /** Stable name of the rule within its group ("https-from-internet"): never derived from a CIDR or a count. */
  readonly key: string;
  readonly group: SecurityGroupRole;
  readonly protocol: "tcp" | "udp" | "icmp";
  readonly ports: PortRange;
  readonly source: RuleSource;
  readonly description: string;
}

export interface FirewallInput {
  appCidr: string;
  /** The data segment as attached to the VPC. */
  dataVpcCidr: string;
}

/** Every ingress rule of the three groups. Egress is open (updates, image pulls, backups) on every group. */
export function firewallRules(input: FirewallInput): IngressRule[] {
  const rules: IngressRule[] = [];
  for (const ports of LB_LISTENER_PORTS) {
    rules.push({
      key: `${ports.key}-from-internet`,
      group: "lb",
      protocol: "tcp",
      ports,
      source: { cidr: ANYWHERE },
      description: `lb listener: ${ports.what}`,
    });
  }
  rules.push({
    key: "all-from-app-segment",
    group: "app",
    protocol: "tcp",
    ports: ALL_TCP,
    source: { cidr: input.appCidr },
    description: "app segment: nodes and pods",
  });
  // Nodes and pods also talk UDP (cluster DNS on 53, VXLAN or other overlays where a network plugin uses them) and
  // ICMP (path MTU discovery). On EKS the cluster security group EKS attaches already admits its members; on ACK the
  // nodes carry only this group (ACK's own rules for a custom group: all protocols from the node and pod ranges).
  rules.push({
    key: "udp-from-app-segment",
    group: "app",
    protocol: "udp",
    ports: ALL_UDP,
    source: { cidr: input.appCidr },
    description: "app segment: nodes and pods (DNS, overlays)",
  });
  rules.push({
    key: "icmp-from-app-segment",
    group: "app",
    protocol: "icmp",
    ports: ALL_ICMP,
    source: { cidr: input.appCidr },
    description: "app segment: ICMP (path MTU discovery)",
  });
  rules.push({
    key: "nodeports-from-lb",
    group: "app",
    protocol: "tcp",
    ports: NODE_PORTS,
    source: { group: "lb" },
    description: "load balancer to the ingress controller",
  });
  for (const ports of DATA_PORTS) {
    rules.push({
      key: `${ports.key}-from-app-segment`,
      group: "data",
      protocol: "tcp",
      ports,
      source: { cidr: input.appCidr },
      description: `app segment to ${ports.what}`,
    });
  }
  rules.push({
    key: "all-from-data",
    group: "data",
    protocol: "tcp",
    ports: ALL_TCP,
    source: { group: "data" },
    description: "data tier replication (Raft, Redis bus, Kafka)",
  });
  return rules;
}
