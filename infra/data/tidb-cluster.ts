/**
 * TiDB through TiDB Operator: the operator (its CRDs and Helm chart), a TidbCluster with PD, TiKV and TiDB spread
 * over the zones on the data nodes (three TiKV stores keep a Raft copy per zone: RPO 0, a zone loss keeps a
 * majority), a root password generated here and set by a TidbInitializer (never TiDB's empty default), and a daily
 * BR backup schedule into the stack's bucket. BR and TiKV (which uploads the SST files itself) run as the backup
 * service account, whose cloud role (IRSA / RRSA, infra/cluster/workload-role.ts) is the only way into the bucket.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { DATA_TAINT } from "../cluster/eks-cluster.ts";
import { STORAGE_CLASS } from "../cluster/encrypted-storage.ts";

export interface TidbClusterArgs {
  namespace: pulumi.Input<string>;
  replicas: { pd: number; tikv: number; tidb: number };
  /** Disk per TiKV store, GiB. */
  storageGb: number;
  backup: {
    provider: "s3" | "oss";
    bucket: pulumi.Input<string>;
    region: string;
    retentionDays: number;
    /** The service account BR and TiKV run as: its cloud role may write the bucket. */
    serviceAccount: pulumi.Input<string>;
  };
  /** TLS between the components and for SQL clients (infra/data/tidb-tls.ts): the client Secret and what to wait for. */
  tls?: { clientSecretName: string; ready: pulumi.Resource[] } | undefined;
  provider: k8s.Provider;
}

/** Pinned versions (TiDB Operator 1.6 line: the pingcap.com/v1alpha1 API used here). */
export const TIDB_OPERATOR_VERSION = "v1.6.5";
export const TIDB_VERSION = "v8.5.1";
/** The MySQL client image TiDB Operator's documentation uses for a TidbInitializer. */
export const TIDB_INITIALIZER_IMAGE = "tnir/mysqlclient";
/** The TidbCluster's name: TiDB's SQL Service is `<name>-tidb` in the data namespace. */
export const TIDB_CLUSTER_NAME = "im";
export const TIDB_SQL_PORT = 4000;
/** The Secret (key "root") holding TiDB's root password, in the data namespace. */
export const TIDB_ROOT_SECRET = "im-tidb-root";

export class TidbCluster extends pulumi.ComponentResource {
  readonly host: pulumi.Output<string>;
  readonly port: number = TIDB_SQL_PORT;
  /** Secret and key of the root password (for the schema migrations Job). */
  readonly rootSecret = { name: TIDB_ROOT_SECRET, key: "root" } as const;
  readonly cluster: k8s.apiextensions.CustomResource;

  constructor(name: string, args: TidbClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:data:TidbCluster", name, {}, opts);
    const on = { parent: this, provider: args.provider };
    const crds = new k8s.yaml.v2.ConfigFile(
      `${name}-crds`,
      { file: `https://raw.githubusercontent.com/pingcap/tidb-operator/${TIDB_OPERATOR_VERSION}/manifests/crd.yaml` },
      on,
    );
    const operator = new k8s.helm.v3.Release(
      `${name}-operator`,
      {
        chart: "tidb-operator",
        version: TIDB_OPERATOR_VERSION,
        repositoryOpts: { repo: "https://charts.pingcap.org/" },
        namespace: "tidb-admin",
        createNamespace: true,
        values: { scheduler: { create: false } },
      },
      { ...on, dependsOn: [crds] },
    );
    const toleration = [{ key: DATA_TAINT.key, operator: "Equal", value: DATA_TAINT.value, effect: "NoSchedule" }];
    const spread = (component: string) => [
      {
        maxSkew: 1,
        topologyKey: "topology.kubernetes.io/zone",
        whenUnsatisfiable: "DoNotSchedule",
        labelSelector: {
          matchLabels: { "app.kubernetes.io/instance": TIDB_CLUSTER_NAME, "app.kubernetes.io/component": component },
        },
      },
    ];
    this.cluster = new k8s.apiextensions.CustomResource(
      name,
      {
        apiVersion: "pingcap.com/v1alpha1",
        kind: "TidbCluster",
        metadata: { name: TIDB_CLUSTER_NAME, namespace: args.namespace },
        spec: {
          version: TIDB_VERSION,
          timezone: "UTC",
          pvReclaimPolicy: "Retain",
          nodeSelector: { [DATA_TAINT.key]: "data" },
          tolerations: toleration,
          pd: {
            baseImage: "pingcap/pd",
            replicas: args.replicas.pd,
            requests: { storage: "20Gi" },
            storageClassName: STORAGE_CLASS,
            topologySpreadConstraints: spread("pd"),
            // PD places the Raft copies of every region in different zones (the stores carry their node's labels).
            config: { replication: { "location-labels": ["topology.kubernetes.io/zone", "kubernetes.io/hostname"] } },
          },
          tikv: {
            baseImage: "pingcap/tikv",
            replicas: args.replicas.tikv,
            requests: { storage: `${args.storageGb}Gi` },
            storageClassName: STORAGE_CLASS,
            topologySpreadConstraints: spread("tikv"),
            // BR has each TiKV store upload its own backup files: the stores need the bucket role too.
            serviceAccount: args.backup.serviceAccount,
          },
          tidb: {
            baseImage: "pingcap/tidb",
            replicas: args.replicas.tidb,
            service: { type: "ClusterIP" },
            topologySpreadConstraints: spread("tidb"),
            // SQL clients (the services, the migrations Job) connect over TLS and verify the server's certificate.
            tlsClient: { enabled: args.tls !== undefined },
          },
          enableDynamicConfiguration: true,
          // Mutual TLS between PD, TiKV and TiDB, with the certificates infra/data/tidb-tls.ts issues.
          tlsCluster: { enabled: args.tls !== undefined },
        },
      },
      { ...on, dependsOn: [operator, ...(args.tls?.ready ?? [])] },
    );
    const target =
      args.backup.provider === "s3"
        ? { s3: { provider: "aws", region: args.backup.region, bucket: args.backup.bucket, prefix: "br" } }
        : {
            s3: {
              provider: "alibaba",
              region: args.backup.region,
              bucket: args.backup.bucket,
              prefix: "br",
              endpoint: `https://oss-${args.backup.region}-internal.aliyuncs.com`,
            },
          };
    new k8s.apiextensions.CustomResource(
      `${name}-backup`,
      {
        apiVersion: "pingcap.com/v1alpha1",
        kind: "BackupSchedule",
        metadata: { name: `${TIDB_CLUSTER_NAME}-daily`, namespace: args.namespace },
        spec: {
          schedule: "0 3 * * *",
          maxReservedTime: `${args.backup.retentionDays * 24}h`,
          backupTemplate: {
            backupType: "full",
            serviceAccount: args.backup.serviceAccount,
            br: { cluster: TIDB_CLUSTER_NAME, clusterNamespace: args.namespace },
            ...target,
          },
        },
      },
      { ...on, dependsOn: [operator] },
    );
    // TiDB starts with an empty root password; the initializer sets this one once the cluster answers.
    const rootPassword = new random.RandomPassword(
      `${name}-root-password`,
      { length: 32, special: false, minLower: 2, minUpper: 2, minNumeric: 2 },
      { parent: this },
    );
    const rootSecret = new k8s.core.v1.Secret(
      `${name}-root`,
      {
        metadata: { name: TIDB_ROOT_SECRET, namespace: args.namespace },
        type: "Opaque",
        stringData: { root: rootPassword.result },
      },
      on,
    );
    new k8s.apiextensions.CustomResource(
      `${name}-initializer`,
      {
        apiVersion: "pingcap.com/v1alpha1",
        kind: "TidbInitializer",
        metadata: { name: `${TIDB_CLUSTER_NAME}-init`, namespace: args.namespace },
        spec: {
          image: TIDB_INITIALIZER_IMAGE,
          cluster: { name: TIDB_CLUSTER_NAME, namespace: args.namespace },
          passwordSecret: TIDB_ROOT_SECRET,
          ...(args.tls === undefined ? {} : { tlsClientSecretName: args.tls.clientSecretName }),
          tolerations: toleration,
        },
      },
      { ...on, dependsOn: [this.cluster, rootSecret] },
    );
    this.host = pulumi.interpolate`${TIDB_CLUSTER_NAME}-tidb.${args.namespace}.svc`;
    this.registerOutputs({ host: this.host, port: this.port });
  }
}
