/**
 * The cluster's credentials: a CA of its own and one serving certificate (for the API server, controller-manager
 * and scheduler, all on 127.0.0.1) made with the `openssl` CLI, so every client verifies the server (never
 * insecure-skip-tls-verify); the service-account signing key pair; and a random bearer token per identity in the
 * API server's token file. Secrets are written 0600 and never printed. Created once; a repairing `up` keeps them.
 */
import { spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.ts";
import { CLUSTER_MESSAGES } from "./messages.ts";
import { CONTEXT_NAME, type ClusterLayout } from "./layout.ts";

export interface PkiFiles {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  saKey: string;
  saPub: string;
  tokens: string;
}

export function pkiFiles(l: ClusterLayout): PkiFiles {
  const f = (name: string) => join(l.pki, name);
  return {
    caCert: f("ca.crt"),
    caKey: f("ca.key"),
    servingCert: f("serving.crt"),
    servingKey: f("serving.key"),
    saKey: f("sa.key"),
    saPub: f("sa.pub"),
    tokens: f("tokens.csv"),
  };
}

/**
 * The identities of the token file. The controller-manager and scheduler use the names the API server's bootstrap
 * RBAC policy already binds; kwok plays the kubelet of every simulated node (it writes node and pod status, leases
 * and deletions for all of them), which the Node authorizer cannot express for one process, so it is an admin.
 */
export const IDENTITIES = {
  admin: { user: "imctl-admin", groups: ["system:masters"] },
  "kube-controller-manager": { user: "system:kube-controller-manager", groups: [] },
  "kube-scheduler": { user: "system:kube-scheduler", groups: [] },
  kwok: { user: "imctl-kwok", groups: ["system:masters"] },
  // The real node's kubelet: the Node authorizer limits it to its own node, pods and their secrets.
  kubelet: { user: "system:node:im-node-real", groups: ["system:nodes"] },
  // The real node's kube-proxy: the bootstrap policy binds system:node-proxier to this user.
  "kube-proxy": { user: "system:kube-proxy", groups: [] },
  // The real node's CoreDNS: reads Services, EndpointSlices, namespaces (ClusterRole imctl:coredns, made at up).
  coredns: { user: "imctl-coredns", groups: [] },
} as const;
export type Identity = keyof typeof IDENTITIES;

/** The names the serving certificate is valid for: loopback and the in-cluster names of the API server. */
export const SERVING_SANS = [
  "IP:127.0.0.1",
  "DNS:localhost",
  "IP:10.96.0.1",
  "DNS:kubernetes",
  "DNS:kubernetes.default",
  "DNS:kubernetes.default.svc",
  "DNS:kubernetes.default.svc.cluster.local",
];

function openssl(args: string[], cwd: string): void {
  const r = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") throw new UserError(CLUSTER_MESSAGES.noOpenssl);
  if (r.status !== 0) {
    const why = (r.stderr || r.stdout || String(r.error)).trim().split("\n").slice(-1)[0];
    throw new Error(`openssl ${args[0]} failed: ${why}`);
  }
}

/** Fails before anything is created when the openssl CLI is missing. */
export function requireOpenssl(): void {
  const r = spawnSync("openssl", ["version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) throw new UserError(CLUSTER_MESSAGES.noOpenssl);
}

function makeCertificates(p: PkiFiles, dir: string): void {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(
    ["req", "-x509", ...ec, "-keyout", p.caKey, "-out", p.caCert, "-days", "3650", "-subj", "/CN=imctl-embedded-ca"],
    dir,
  );
  const csr = join(dir, "serving.csr");
  const ext = join(dir, "serving.ext");
  openssl(["req", ...ec, "-keyout", p.servingKey, "-out", csr, "-subj", "/CN=kube-apiserver"], dir);
  writeFileSync(
    ext,
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      `subjectAltName=${SERVING_SANS.join(",")}`,
      "",
    ].join("\n"),
  );
  openssl(
    ["x509", "-req", "-in", csr, "-CA", p.caCert, "-CAkey", p.caKey, "-CAcreateserial", "-out", p.servingCert].concat([
      "-days",
      "825",
      "-extfile",
      ext,
    ]),
    dir,
  );
}

/** One token file line: token,user,uid,"group1,group2" (the API server's --token-auth-file format). */
export function tokenLine(token: string, user: string, groups: readonly string[]): string {
  return `${token},${user},${user}${groups.length ? `,"${groups.join(",")}"` : ""}`;
}

/** Reads the tokens back by user name (the kubeconfigs are written from them). */
export function parseTokens(text: string): Map<string, string> {
  const byUser = new Map<string, string>();
  for (const line of text.split("\n")) {
    const [token, user] = line.split(",");
    if (token && user) byUser.set(user, token);
  }
  return byUser;
}

/** Creates whatever of the credentials is missing (all of it at the first `up`). */
export function ensurePki(l: ClusterLayout): PkiFiles {
  const p = pkiFiles(l);
  mkdirSync(l.pki, { recursive: true, mode: 0o700 });
  if (!existsSync(p.caCert) || !existsSync(p.servingCert)) makeCertificates(p, l.pki);
  if (!existsSync(p.saKey)) {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
    writeFileSync(p.saKey, privateKey, { mode: 0o600 });
    writeFileSync(p.saPub, publicKey, { mode: 0o600 });
  }
  if (!existsSync(p.tokens)) {
    const lines = Object.values(IDENTITIES).map((id) =>
      tokenLine(randomBytes(32).toString("base64url"), id.user, id.groups),
    );
    writeFileSync(p.tokens, `${lines.join("\n")}\n`, { mode: 0o600 });
  }
  return p;
}

export function tokenOf(p: PkiFiles, who: Identity): string {
  const token = parseTokens(readFileSync(p.tokens, "utf8")).get(IDENTITIES[who].user);
  if (!token)
    throw new Error(`${p.tokens} has no token for ${IDENTITIES[who].user}: run imctl cluster down --yes, then up`);
  return token;
}

/** A kubeconfig (JSON, which every YAML reader takes) with the CA embedded and a bearer token. */
export function renderKubeconfig(o: { server: string; caPem: string; user: string; token: string }): string {
  const cfg = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: CONTEXT_NAME,
        cluster: { server: o.server, "certificate-authority-data": Buffer.from(o.caPem).toString("base64") },
      },
    ],
    users: [{ name: o.user, user: { token: o.token } }],
    contexts: [{ name: CONTEXT_NAME, context: { cluster: CONTEXT_NAME, user: o.user } }],
    "current-context": CONTEXT_NAME,
    preferences: {},
  };
  return `${JSON.stringify(cfg, null, 2)}\n`;
}

/** Writes the kubeconfig of one identity (0600: it holds the token). */
export function writeKubeconfig(file: string, p: PkiFiles, who: Identity, apiPort: number): void {
  const text = renderKubeconfig({
    server: `https://127.0.0.1:${apiPort}`,
    caPem: readFileSync(p.caCert, "utf8"),
    user: IDENTITIES[who].user,
    token: tokenOf(p, who),
  });
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}
