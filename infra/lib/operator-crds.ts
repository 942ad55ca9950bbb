/**
 * What the operators' CRDs define, where the program writes fields the CRD could silently drop: a structural schema
 * prunes unknown fields (or, with strict field validation, refuses the object), so a field the CRD lacks is never
 * applied and a review of the program's source would not notice. The policy `im-operator-crd-fields` checks the
 * declared custom resources against these lists. Pure.
 */

/**
 * TiDB Operator v1.6, pingcap.com/v1alpha1 TidbCluster: a TopologySpreadConstraint is a minimal version of the core
 * type with `topologyKey` only; the operator itself sets maxSkew 1, whenUnsatisfiable DoNotSchedule and a
 * labelSelector matching each component's own pods (component_spec.go, TopologySpreadConstraints()).
 */
export const TIDB_SPREAD_FIELDS: readonly string[] = ["topologyKey"];

/** Where a TidbCluster carries topology spread constraints: the cluster level and each component. */
export const TIDB_SPREAD_PATHS: readonly string[] = [
  "spec.topologySpreadConstraints",
  ...["pd", "tikv", "tidb", "tiflash", "ticdc", "pump", "tiproxy"].map((c) => `spec.${c}.topologySpreadConstraints`),
];
