/**
 * TLS for TiDB, issued by cert-manager: between PD, TiKV and TiDB (mutual TLS, TiDB Operator's `tlsCluster`), and
 * for MySQL clients (`tidb.tlsClient`). A self-signed root makes a cluster-wide CA issuer, so the services'
 * namespace can get the CA too (a client certificate whose Secret carries ca.crt). The certificates' names and DNS
 * names follow TiDB Operator's conventions: `<cluster>-<component>-cluster-secret` for the components,
 * `<cluster>-cluster-client-secret` for its tools (BR), `<cluster>-tidb-server-secret` / `-tidb-client-secret` for SQL.
 * cert-manager renews every certificate before it expires; the components reload them.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export interface TidbTlsArgs {
  /** The data namespace (TiDB's). */
  namespace: string;
  /** The TidbCluster's name. */
  cluster: string;
  /** cert-manager's namespace, where the CA's own Secret lives (a ClusterIssuer reads it there). */
  certManagerNamespace: string;
  provider: k8s.Provider;
}

/** The ClusterIssuer that signs TiDB's certificates (and the services' client certificate). */
export const TIDB_CA_ISSUER = "im-tidb-ca";
/** A year, renewed a month before it ends. */
const DURATION = { duration: "8760h", renewBefore: "720h" };

export class TidbTls extends pulumi.ComponentResource {
  /** The Secret (in the data namespace) the SQL clients of that namespace (initializer, migrations) present. */
  readonly clientSecretName: string;
  /** Done when every certificate of the cluster is declared: the TidbCluster waits for it. */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: TidbTlsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:data:TidbTls", name, {}, opts);
    const on = { parent: this, provider: args.provider };
    const cm = (
      resource: string,
      kind: string,
      metadata: Record<string, unknown>,
      spec: Record<string, unknown>,
      dependsOn: pulumi.Resource[] = [],
    ) =>
      new k8s.apiextensions.CustomResource(
        `${name}-${resource}`,
        { apiVersion: "cert-manager.io/v1", kind, metadata, spec },
        { ...on, dependsOn },
      );
    const selfSigned = cm("selfsigned", "ClusterIssuer", { name: `${TIDB_CA_ISSUER}-root` }, { selfSigned: {} });
    const caCert = cm(
      "ca",
      "Certificate",
      { name: TIDB_CA_ISSUER, namespace: args.certManagerNamespace },
      {
        secretName: `${TIDB_CA_ISSUER}-secret`,
        commonName: "IM platform TiDB CA",
        isCA: true,
        duration: "87600h",
        privateKey: { algorithm: "ECDSA", size: 256 },
        issuerRef: { name: `${TIDB_CA_ISSUER}-root`, kind: "ClusterIssuer" },
      },
      [selfSigned],
    );
    const issuer = cm(
      "issuer",
      "ClusterIssuer",
      { name: TIDB_CA_ISSUER },
      { ca: { secretName: `${TIDB_CA_ISSUER}-secret` } },
      [caCert],
    );
    const c = args.cluster;
    const ns = args.namespace;
    const names = (svc: string, wildcard: boolean) =>
      [svc, `${svc}.${ns}`, `${svc}.${ns}.svc`].flatMap((n) => (wildcard ? [n, `*.${n}`] : [n]));
    const issued = (resource: string, secretName: string, usages: string[], dnsNames: string[] | undefined) =>
      cm(
        resource,
        "Certificate",
        { name: secretName, namespace: ns },
        {
          secretName,
          commonName: "TiDB",
          ...DURATION,
          usages,
          ...(dnsNames === undefined ? {} : { dnsNames, ipAddresses: ["127.0.0.1", "::1"] }),
          privateKey: { algorithm: "ECDSA", size: 256 },
          issuerRef: { name: TIDB_CA_ISSUER, kind: "ClusterIssuer" },
        },
        [issuer],
      );
    const both = ["server auth", "client auth"];
    const certs = [
      ...(["pd", "tikv", "tidb"] as const).map((component) =>
        issued(`${component}-cluster`, `${c}-${component}-cluster-secret`, both, [
          ...names(`${c}-${component}`, false),
          ...names(`${c}-${component}-peer`, true),
        ]),
      ),
      issued("cluster-client", `${c}-cluster-client-secret`, ["client auth"], undefined),
      issued(
        "tidb-server",
        `${c}-tidb-server-secret`,
        ["server auth"],
        [...names(`${c}-tidb`, true), ...names(`${c}-tidb-peer`, true)],
      ),
      issued("tidb-client", `${c}-tidb-client-secret`, ["client auth"], undefined),
    ];
    this.clientSecretName = `${c}-tidb-client-secret`;
    this.ready = certs;
    this.registerOutputs({ clientSecretName: this.clientSecretName });
  }
}
