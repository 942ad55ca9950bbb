/**
 * The command line of each component, from the cluster's layout and ports. Everything binds 127.0.0.1 only.
 * Pure: no process is started here (cluster.ts does that).
 */
import { join } from "node:path";
import { toolPath } from "../../../base/tools.mjs";
import {
  componentKubeconfig,
  type ClusterLayout,
  type ComponentId,
  KWOK_NODE_ANNOTATION,
  POD_CIDR,
  SERVICE_CIDR,
  SIMULATED_POD_CIDR,
} from "./layout.ts";
import type { PkiFiles } from "./pki.ts";
import type { PortName } from "./state.ts";

export interface ComponentCommand {
  bin: string;
  args: string[];
}

type Ports = Record<PortName, number>;
const LOOPBACK = "127.0.0.1";

function etcd(l: ClusterLayout, ports: Ports): string[] {
  const client = `http://${LOOPBACK}:${ports.etcd}`;
  const peer = `http://${LOOPBACK}:${ports["etcd-peer"]}`;
  return [
    "--name=imctl-embedded",
    `--data-dir=${l.etcdData}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=imctl-embedded=${peer}`,
    "--log-level=warn",
  ];
}

/** Where the API server's egress selector configuration is (written by cluster.ts with egressSelectorConfig). */
export const egressSelectorFile = (l: ClusterLayout): string => join(l.dir, "egress-selector.yaml");

/** The socket the real node's forwarder serves HTTP CONNECT on (forward.mjs `egress`; node/config.ts sockets). */
export const egressSocket = (l: ClusterLayout): string => join(l.dir, "node", "sockets", "egress.sock");

/** The API server's traffic to the cluster (nodes, pods, Services) through the real node's CONNECT proxy. */
export function egressSelectorConfig(l: ClusterLayout): string {
  return (
    [
      "apiVersion: apiserver.k8s.io/v1beta1",
      "kind: EgressSelectorConfiguration",
      "egressSelections:",
      "  - name: cluster",
      "    connection:",
      "      proxyProtocol: HTTPConnect",
      "      transport:",
      "        uds:",
      `          udsName: ${JSON.stringify(egressSocket(l))}`,
    ].join("\n") + "\n"
  );
}

function apiserver(l: ClusterLayout, ports: Ports, p: PkiFiles): string[] {
  return [
    `--etcd-servers=http://${LOOPBACK}:${ports.etcd}`,
    `--bind-address=${LOOPBACK}`,
    `--advertise-address=${LOOPBACK}`,
    `--secure-port=${ports["kube-apiserver"]}`,
    `--tls-cert-file=${p.servingCert}`,
    `--tls-private-key-file=${p.servingKey}`,
    `--token-auth-file=${p.tokens}`,
    "--authorization-mode=Node,RBAC",
    `--service-account-key-file=${p.saPub}`,
    `--service-account-signing-key-file=${p.saKey}`,
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    // PodSecurity stays among the default admission plugins of 1.31: nothing here turns admission plugins off.
    "--allow-privileged=false",
    // The `kubernetes` Service's endpoint would be the advertise address, and a loopback address is refused there
    // (every 10 s, in the log). No pod runs to call it, so nothing maintains that endpoint.
    "--endpoint-reconciler-type=none",
    // Pods, Services and the kubelet are reached through the real node's CONNECT proxy (service proxy, logs,
    // port-forward), as a cloud's API server reaches them through Konnectivity. Without a real node it is refused.
    `--egress-selector-config-file=${egressSelectorFile(l)}`,
    "--profiling=false",
  ];
}

/** The flags the controller-manager and the scheduler share: their kubeconfig, port and serving certificate. */
function controlPlaneCommon(l: ClusterLayout, id: ComponentId, port: number, p: PkiFiles): string[] {
  return [
    `--kubeconfig=${componentKubeconfig(l, id)}`,
    `--authentication-kubeconfig=${componentKubeconfig(l, id)}`,
    `--authorization-kubeconfig=${componentKubeconfig(l, id)}`,
    `--bind-address=${LOOPBACK}`,
    `--secure-port=${port}`,
    `--tls-cert-file=${p.servingCert}`,
    `--tls-private-key-file=${p.servingKey}`,
    // One instance of each: leader election would only add a lease round trip to every start.
    "--leader-elect=false",
    "--profiling=false",
  ];
}

function controllerManager(l: ClusterLayout, ports: Ports, p: PkiFiles): string[] {
  return [
    ...controlPlaneCommon(l, "kube-controller-manager", ports["kube-controller-manager"], p),
    `--service-account-private-key-file=${p.saKey}`,
    `--root-ca-file=${p.caCert}`,
    // Each controller acts as its own service account, which the API server's bootstrap RBAC policy binds.
    "--use-service-account-credentials=true",
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    `--cluster-cidr=${POD_CIDR}`,
    "--allocate-node-cidrs=false",
  ];
}

function scheduler(l: ClusterLayout, ports: Ports, p: PkiFiles): string[] {
  return controlPlaneCommon(l, "kube-scheduler", ports["kube-scheduler"], p);
}

function kwok(l: ClusterLayout, ports: Ports): string[] {
  return [
    `--kubeconfig=${componentKubeconfig(l, "kwok")}`,
    `--config=${l.stages}`,
    `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
    `--server-address=${LOOPBACK}:${ports.kwok}`,
    `--cidr=${SIMULATED_POD_CIDR}`,
    "--node-ip=10.0.0.1",
    // kwok renews each simulated node's Lease too, as a kubelet does.
    "--node-lease-duration-seconds=40",
  ];
}

export function componentCommand(id: ComponentId, l: ClusterLayout, ports: Ports, p: PkiFiles): ComponentCommand {
  const args: Record<ComponentId, () => string[]> = {
    etcd: () => etcd(l, ports),
    "kube-apiserver": () => apiserver(l, ports, p),
    "kube-controller-manager": () => controllerManager(l, ports, p),
    "kube-scheduler": () => scheduler(l, ports, p),
    kwok: () => kwok(l, ports),
  };
  return { bin: toolPath(id), args: args[id]() };
}
