/**
 * The data tier's own guards:
 * - im-data-tier-auth, on every stack: every Redis and Kafka the program declares takes only authenticated clients:
 *   ElastiCache with an auth token or RBAC user group, Tair with a password, MSK with SCRAM or IAM and no
 *   unauthenticated access, ApsaraMQ with ACLs on, Strimzi with authentication on every listener, in-cluster Redis
 *   started with `--requirepass`; and an MSK cluster without ACLs has one SCRAM user only. That covers an existing
 *   cluster's stack with `cluster.data.mode: in-cluster` (its Redis and Strimzi are the program's); one with external
 *   data declares no store, so nothing is checked.
 * - im-data-namespace-isolated, on a cloud stack (on an existing cluster, whether its CNI enforces NetworkPolicies and
 *   which namespaces its operators run in are its owner's): a namespace that runs data pods (StatefulSets, Strimzi,
 *   TiDB) has a default-deny ingress NetworkPolicy (every pod selected, Ingress in its types, no rule), so only what
 *   another policy names (the IM services, monitoring, the operators) reaches them.
 */
import type { ReportViolation, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { at, list, type Props } from "./props.ts";

const CLOUD_TYPE = /^(aws|alicloud):/;
const set = (v: unknown) => v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && v.length === 0);

/** Why this resource admits unauthenticated clients, or null. */
export function dataAuthProblem(type: string, props: Props): string | null {
  switch (type) {
    case "aws:elasticache/replicationGroup:ReplicationGroup":
      return set(at(props, "authToken")) || set(at(props, "userGroupIds"))
        ? null
        : "ElastiCache has neither authToken nor userGroupIds: any client in the data segment can read and write";
    case "aws:msk/cluster:Cluster": {
      const sasl =
        at(props, "clientAuthentication.sasl.scram") === true || at(props, "clientAuthentication.sasl.iam") === true;
      const tls = list(at(props, "clientAuthentication.tls.certificateAuthorityArns")).length > 0;
      if (!sasl && !tls) return "MSK has no client authentication (clientAuthentication.sasl.scram or iam, or tls)";
      return at(props, "clientAuthentication.unauthenticated") === true
        ? "MSK keeps unauthenticated access on (clientAuthentication.unauthenticated)"
        : null;
    }
    case "alicloud:kvstore/instance:Instance":
      return set(at(props, "password")) || set(at(props, "kmsEncryptedPassword"))
        ? null
        : "Tair/Redis has no password (password or kmsEncryptedPassword)";
    case "alicloud:alikafka/instance:Instance": {
      const config = at(props, "config");
      const acl =
        typeof config === "string" ? (JSON.parse(config) as Record<string, unknown>)["enable.acl"] : undefined;
      return acl === "true" ? null : 'ApsaraMQ for Kafka has ACLs off (config "enable.acl" is not "true")';
    }
    case "kubernetes:kafka.strimzi.io/v1beta2:Kafka": {
      const open = list(at(props, "spec.kafka.listeners"))
        .filter((l) => !set(at(l, "authentication.type")))
        .map((l) => String(at(l, "name")));
      return open.length === 0 ? null : `Strimzi listener(s) ${open.join(", ")} take unauthenticated clients`;
    }
    case "kubernetes:apps/v1:StatefulSet": {
      const redis = list(at(props, "spec.template.spec.containers")).filter((c) =>
        String(at(c, "image") ?? "").startsWith("redis:"),
      );
      const open = redis.filter((c) => !list(at(c, "args")).includes("--requirepass"));
      return open.length === 0 ? null : "in-cluster Redis starts without --requirepass";
    }
    default:
      return null;
  }
}

const MSK_CONFIGURATION = "aws:msk/configuration:Configuration";
const MSK_SCRAM_ONE = "aws:msk/singleScramSecretAssociation:SingleScramSecretAssociation";
const MSK_SCRAM_MANY = "aws:msk/scramSecretAssociation:ScramSecretAssociation";

/**
 * MSK without ACLs (`allow.everyone.if.no.acl.found` true, MSK's default when a configuration does not say false)
 * lets every SCRAM user do anything, so one user must be all there is (infra/data/kafka-cluster.ts
 * MSK_ACL_PROPERTIES). Why a stack associates more than one, or null.
 */
export function mskUsersProblem(resources: readonly { type: string; props: Props }[]): string | null {
  const users =
    resources.filter((r) => r.type === MSK_SCRAM_ONE).length +
    resources
      .filter((r) => r.type === MSK_SCRAM_MANY)
      .reduce((n, r) => n + list(at(r.props, "secretArnLists")).length, 0);
  if (users <= 1) return null;
  const aclsOn = resources
    .filter((r) => r.type === MSK_CONFIGURATION)
    .some((r) =>
      /^\s*allow\.everyone\.if\.no\.acl\.found\s*=\s*false\s*$/m.test(String(at(r.props, "serverProperties") ?? "")),
    );
  return aclsOn
    ? null
    : `MSK has ${users} SCRAM users and no ACLs (allow.everyone.if.no.acl.found is not false): each can read, write ` +
        "and delete every topic; keep the services' user alone or turn ACLs on with the grants each user needs";
}

export const dataTierAuth: StackValidationPolicy = {
  name: "im-data-tier-auth",
  description: "Every Redis and Kafka the program declares takes only authenticated clients.",
  enforcementLevel: "mandatory",
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    for (const r of args.resources) {
      const problem = dataAuthProblem(r.type, r.props);
      if (problem !== null) report(`${r.name}: ${problem}`, r.urn);
    }
    const users = mskUsersProblem(args.resources);
    if (users !== null) report(users);
  },
};

/** Kinds whose pods are the data tier's. */
const DATA_KINDS = new Set([
  "kubernetes:apps/v1:StatefulSet",
  "kubernetes:kafka.strimzi.io/v1beta2:Kafka",
  "kubernetes:pingcap.com/v1alpha1:TidbCluster",
]);
const NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy";

/** A NetworkPolicy that selects every pod of its namespace and allows no ingress. */
export function isDefaultDenyIngress(props: Props): boolean {
  const selector = at(props, "spec.podSelector");
  const selectsAll =
    selector !== null &&
    typeof selector === "object" &&
    list(at(selector, "matchExpressions")).length === 0 &&
    Object.keys((at(selector, "matchLabels") as object | undefined) ?? {}).length === 0;
  return (
    selectsAll &&
    list(at(props, "spec.policyTypes")).includes("Ingress") &&
    list(at(props, "spec.ingress")).length === 0
  );
}

export const dataNamespaceIsolated: StackValidationPolicy = {
  name: "im-data-namespace-isolated",
  description: "On a cloud stack a namespace that runs data pods has a default-deny ingress NetworkPolicy.",
  enforcementLevel: "mandatory",
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    if (!args.resources.some((r) => CLOUD_TYPE.test(r.type))) return;
    const denied = new Set(
      args.resources
        .filter((r) => r.type === NETWORK_POLICY && isDefaultDenyIngress(r.props))
        .map((r) => String(at(r.props, "metadata.namespace"))),
    );
    for (const r of args.resources) {
      if (!DATA_KINDS.has(r.type)) continue;
      const ns = String(at(r.props, "metadata.namespace") ?? "default");
      if (!denied.has(ns))
        report(`${r.name}: namespace ${ns} runs data pods without a default-deny ingress NetworkPolicy`, r.urn);
    }
  },
};
