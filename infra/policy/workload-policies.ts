/**
 * The policies on what runs in the clusters beyond pod security (infra/policy/policies.ts holds the pack's list):
 * - im-operator-crd-fields: custom resources carry only fields their operator's CRD defines;
 * - im-claims-name-storage-class: on a cloud stack, every volume claim names its StorageClass;
 * - im-edge-tls: on a cloud stack the Gateway serves HTTPS with a certificate, the services' HTTPRoutes attach to its
 *   HTTPS listeners only, its HTTP listeners only redirect to HTTPS, and no Ingress exists (tokens ride the WebSocket).
 */
import type {
  ReportViolation,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { TIDB_SPREAD_FIELDS, TIDB_SPREAD_PATHS } from "../lib/operator-crds.ts";
import { at, list, type Props } from "./props.ts";

export const operatorCrdFields: ResourceValidationPolicy = {
  name: "im-operator-crd-fields",
  description: "Custom resources carry only the fields their operator's CRD defines (nothing silently pruned).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type !== "kubernetes:pingcap.com/v1alpha1:TidbCluster") return;
    for (const path of TIDB_SPREAD_PATHS)
      list(at(args.props, path)).forEach((c, i) => {
        const extra = Object.keys((c ?? {}) as Props).filter((k) => !TIDB_SPREAD_FIELDS.includes(k));
        if (extra.length > 0)
          report(
            `${args.name}: ${path}[${i}] has ${extra.join(", ")}, which TiDB Operator v1.6's CRD does not define ` +
              `(allowed: ${TIDB_SPREAD_FIELDS.join(", ")}; the operator derives the rest)`,
          );
      });
  },
};

/** Where each kind of resource names the class of the claims it makes; the values are paths relative to props. */
function claimClassPaths(type: string, p: Props): Array<{ path: string; value: unknown }> {
  switch (type) {
    case "kubernetes:core/v1:PersistentVolumeClaim":
      return [{ path: "spec.storageClassName", value: at(p, "spec.storageClassName") }];
    case "kubernetes:apps/v1:StatefulSet":
      return list(at(p, "spec.volumeClaimTemplates")).map((t, i) => ({
        path: `spec.volumeClaimTemplates[${i}].spec.storageClassName`,
        value: at(t, "spec.storageClassName"),
      }));
    case "kubernetes:pingcap.com/v1alpha1:TidbCluster":
      // PD and TiKV keep data; the TiDB servers are stateless.
      return ["pd", "tikv"]
        .filter((part) => at(p, `spec.${part}`) !== undefined)
        .map((part) => ({ path: `spec.${part}.storageClassName`, value: at(p, `spec.${part}.storageClassName`) }));
    case "kubernetes:kafka.strimzi.io/v1beta2:KafkaNodePool": {
      const storage = at(p, "spec.storage");
      const volumes = at(storage, "type") === "jbod" ? list(at(storage, "volumes")) : [storage];
      return volumes.map((v, i) => ({
        path: at(storage, "type") === "jbod" ? `spec.storage.volumes[${i}].class` : "spec.storage.class",
        value: at(v, "class"),
      }));
    }
    case "kubernetes:helm.sh/v3:Release": {
      if (p.chart !== "kube-prometheus-stack") return [];
      const template = at(p, "values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate");
      if (template === undefined) return [];
      return [
        {
          path: "values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName",
          value: at(template, "spec.storageClassName"),
        },
      ];
    }
    default:
      return [];
  }
}

const CLOUD_TYPE = /^(aws|alicloud):/;

export const claimsNameStorageClass: StackValidationPolicy = {
  name: "im-claims-name-storage-class",
  description:
    "On a cloud stack every volume claim names its StorageClass (EKS 1.30+ and ACK have no default class: the claim would stay Pending).",
  enforcementLevel: "mandatory",
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    // An existing cluster may well have a default class (its stack's data.storageClass says so by its absence).
    if (!args.resources.some((r) => CLOUD_TYPE.test(r.type))) return;
    for (const r of args.resources)
      for (const claim of claimClassPaths(r.type, r.props))
        if (typeof claim.value !== "string" || claim.value === "")
          report(`${r.name}: ${claim.path} is not set; the cluster has no default StorageClass, name one`, r.urn);
  },
};

const INGRESS = "kubernetes:networking.k8s.io/v1:Ingress";
const GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway";
const HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute";

interface Listener {
  name: string;
  protocol: string;
  /** An HTTPS listener that terminates TLS with at least one certificate. */
  servesTls: boolean;
}

/** A Gateway's listeners, keyed by "namespace/name" of the Gateway. */
function gatewayListeners(resources: readonly { type: string; props: Props }[]): Map<string, Listener[]> {
  const byGateway = new Map<string, Listener[]>();
  for (const r of resources) {
    if (r.type !== GATEWAY) continue;
    const listeners = list(at(r.props, "spec.listeners")).map((l) => ({
      name: String(at(l, "name") ?? ""),
      protocol: String(at(l, "protocol") ?? ""),
      servesTls:
        at(l, "protocol") === "HTTPS" &&
        (at(l, "tls.mode") ?? "Terminate") === "Terminate" &&
        list(at(l, "tls.certificateRefs")).length > 0,
    }));
    byGateway.set(
      `${String(at(r.props, "metadata.namespace") ?? "")}/${String(at(r.props, "metadata.name"))}`,
      listeners,
    );
  }
  return byGateway;
}

/** A route rule that only redirects to HTTPS (no backend). */
function redirectsToHttps(rule: unknown): boolean {
  return (
    list(at(rule, "backendRefs")).length === 0 &&
    list(at(rule, "filters")).some(
      (f) => at(f, "type") === "RequestRedirect" && at(f, "requestRedirect.scheme") === "https",
    )
  );
}

export const edgeTls: StackValidationPolicy = {
  name: "im-edge-tls",
  description:
    "On a cloud stack the Gateway serves HTTPS with a certificate, routes reach the services over HTTPS only, plain " +
    "HTTP is redirected to HTTPS, and no Ingress is declared (nothing serves one since ingress-nginx's retirement).",
  enforcementLevel: "mandatory",
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    // An existing cluster's edge is its owner's (the embedded test cluster serves plain HTTP on loopback).
    if (!args.resources.some((r) => CLOUD_TYPE.test(r.type))) return;
    const gateways = gatewayListeners(args.resources);
    const redirected = new Set<string>();
    for (const r of args.resources) {
      if (r.type === INGRESS)
        report(
          `${r.name}: an Ingress: nothing serves it (ingress-nginx is retired, Traefik runs only the Gateway API); ` +
            "expose the service with an HTTPRoute on the platform's Gateway",
          r.urn,
        );
      if (r.type !== HTTP_ROUTE) continue;
      const routeNs = String(at(r.props, "metadata.namespace") ?? "");
      const rules = list(at(r.props, "spec.rules"));
      const serves = rules.some((rule) => !redirectsToHttps(rule));
      list(at(r.props, "spec.parentRefs")).forEach((ref, i) => {
        const key = `${String(at(ref, "namespace") ?? routeNs)}/${String(at(ref, "name"))}`;
        const listeners = gateways.get(key);
        if (listeners === undefined) return;
        const section = at(ref, "sectionName");
        const attached = typeof section === "string" ? listeners.filter((l) => l.name === section) : listeners;
        if (!serves) {
          for (const l of attached) if (l.protocol === "HTTP") redirected.add(`${key}/${l.name}`);
          return;
        }
        const plain = attached.filter((l) => !l.servesTls).map((l) => l.name);
        if (plain.length > 0)
          report(
            `${r.name}: parentRefs[${i}] attaches to ${key} listener ${plain.join(", ")}, which has no TLS: ` +
              "set sectionName to an HTTPS listener (the services must not be reachable over plain HTTP)",
            r.urn,
          );
      });
    }
    for (const r of args.resources) {
      if (r.type !== GATEWAY) continue;
      const key = `${String(at(r.props, "metadata.namespace") ?? "")}/${String(at(r.props, "metadata.name"))}`;
      const listeners = gateways.get(key) ?? [];
      if (!listeners.some((l) => l.servesTls))
        report(`${r.name}: no HTTPS listener with a certificate: add one (protocol HTTPS, tls.certificateRefs)`, r.urn);
      for (const l of listeners)
        if (l.protocol === "HTTP" && !redirected.has(`${key}/${l.name}`))
          report(
            `${r.name}: listener ${l.name} is plain HTTP without a redirect: attach an HTTPRoute whose rules ` +
              "redirect to https (RequestRedirect filter, scheme https)",
            r.urn,
          );
    }
  },
};
