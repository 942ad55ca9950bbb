/**
 * Who may open a connection to a pod of the data namespace: a default deny for ingress, then the data pods among
 * themselves (Redis's cluster bus, Kafka's replication, TiDB's PD/TiKV/TiDB, the operators and Jobs that live here),
 * the IM services on the data ports only, Prometheus (the monitoring namespace scrapes the exporters and brokers) and
 * TiDB Operator (its own namespace, talking to PD). Egress stays open: BR writes to the bucket, operators call the API
 * server. The managed services (ElastiCache, MSK, Tair, ApsaraMQ) are outside the cluster and behind the data security
 * group instead (infra/lib/network-rules.ts). The CNI enforces these: the VPC CNI with its network policy agent on EKS
 * (EksCluster turns it on), Terway on ACK.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { MONITORING_NAMESPACE } from "../observability/monitoring.ts";
import { TIDB_OPERATOR_NAMESPACE } from "./tidb-cluster.ts";

export interface DataNetworkPoliciesArgs {
  /** The data namespace. */
  namespace: string;
  /** The IM services' namespace. */
  servicesNamespace: string;
  provider: k8s.Provider;
}

/** The policy that denies every ingress the others do not allow (the policy pack looks for it by its shape). */
export const DATA_DEFAULT_DENY = "default-deny-ingress";

/** The ports the services use: TiDB's SQL, Redis, Kafka's plain and TLS listeners. */
export const DATA_SERVICE_PORTS: readonly number[] = [4000, 6379, 9092, 9093];

const byName = (ns: string) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } } });

export class DataNetworkPolicies extends pulumi.ComponentResource {
  constructor(name: string, args: DataNetworkPoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:data:DataNetworkPolicies", name, {}, opts);
    const on = { parent: this, provider: args.provider };
    const policy = (
      suffix: string,
      policyName: string,
      ingress: k8s.types.input.networking.v1.NetworkPolicyIngressRule[],
    ) =>
      new k8s.networking.v1.NetworkPolicy(
        `${name}-${suffix}`,
        {
          metadata: { name: policyName, namespace: args.namespace },
          spec: { podSelector: {}, policyTypes: ["Ingress"], ingress },
        },
        on,
      );
    policy("deny", DATA_DEFAULT_DENY, []);
    policy("within", "allow-within-data-namespace", [{ from: [{ podSelector: {} }] }]);
    policy("services", "allow-im-services", [
      { from: [byName(args.servicesNamespace)], ports: DATA_SERVICE_PORTS.map((port) => ({ protocol: "TCP", port })) },
    ]);
    policy("prometheus", "allow-monitoring", [{ from: [byName(MONITORING_NAMESPACE)] }]);
    policy("tidb-operator", "allow-tidb-operator", [{ from: [byName(TIDB_OPERATOR_NAMESPACE)] }]);
    this.registerOutputs({});
  }
}
