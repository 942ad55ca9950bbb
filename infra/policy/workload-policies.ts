/**
 * The policies on what runs in the clusters beyond pod security (infra/policy/policies.ts holds the pack's list):
 * - im-operator-crd-fields: custom resources carry only fields their operator's CRD defines;
 * - im-claims-name-storage-class: on a cloud stack, every volume claim names its StorageClass;
 * - im-edge-tls: every Ingress serves its hosts over TLS and redirects HTTP to HTTPS (tokens ride the WebSocket).
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
const NGINX = "nginx.ingress.kubernetes.io/";

export const edgeTls: ResourceValidationPolicy = {
  name: "im-edge-tls",
  description: "Every Ingress serves its hosts over TLS and redirects plain HTTP to HTTPS.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type !== INGRESS) return;
    const hosts = list(at(args.props, "spec.rules"))
      .map((r) => at(r, "host"))
      .filter((h): h is string => typeof h === "string");
    const covered = new Set(list(at(args.props, "spec.tls")).flatMap((t) => list(at(t, "hosts"))));
    const bare = hosts.filter((h) => !covered.has(h));
    if (bare.length > 0)
      report(`${args.name}: ${bare.join(", ")} served without TLS: add spec.tls with a certificate for each host`);
    const annotations = (at(args.props, "metadata.annotations") ?? {}) as Props;
    for (const key of ["ssl-redirect", "force-ssl-redirect"])
      if (hosts.length > 0 && annotations[`${NGINX}${key}`] !== "true")
        report(`${args.name}: ${NGINX}${key} is not "true": plain HTTP must be redirected to HTTPS`);
  },
};
