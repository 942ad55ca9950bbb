/**
 * Where the machine reaches a stack's edge on the embedded cluster: Traefik's NodePort, published on a loopback port
 * of the real node's (its ingress port), answering for the stack's host name. Used by the loadtest command (k6's
 * `hosts`) and the kubernetes drill's probe relay.
 */
import { homedir } from "node:os";
import { REPO_ROOT } from "../../../base/root.mjs";
import { resolveKubeconfig } from "../../../infra/lib/spec-cluster.ts";
import type { PlatformSpec } from "../../../infra/lib/spec.ts";
import { clusterLayout } from "./layout.ts";
import { readState } from "./state.ts";

/** The edge as the machine reaches it: a port on 127.0.0.1 and the host name the routes answer for. */
export interface EmbeddedIngress {
  port: number;
  hostname: string;
}

/**
 * The embedded cluster's ingress for a stack on it; null when the stack is not on an existing cluster; `unreachable`
 * with the cluster's kubeconfig when it names another cluster or the embedded one has no real node.
 */
export function embeddedIngress(spec: PlatformSpec): EmbeddedIngress | { unreachable: string } | null {
  if (spec.target !== "kubernetes" || spec.cluster === undefined) return null;
  const hostname = spec.kubernetes?.ingress.host;
  const l = clusterLayout();
  const state = readState(l.state);
  const kubeconfig = resolveKubeconfig(spec.cluster.kubeconfig, REPO_ROOT, homedir());
  if (!state?.realNode || !hostname || kubeconfig !== l.kubeconfig) return { unreachable: l.kubeconfig };
  return { port: state.realNode.ingressPort, hostname };
}
