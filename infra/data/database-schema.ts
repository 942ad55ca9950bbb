/**
 * The services' database on TiDB: the schema (data.database.name), an application user with a password generated
 * here, and the migrations of services/migrations applied by a Kubernetes Job before any service starts.
 *
 * The Job runs the message service's image (it ships services/lib/migrate.js and services/migrations, the same code
 * the local target migrates MariaDB with) as TiDB's root, creates or re-keys the application user with only the
 * rights the services use (SELECT, INSERT, UPDATE, DELETE on the schema: the DDL is the Job's alone), and applies
 * the pending migrations, refusing one that was edited after it ran. A new image version replaces the Job, so
 * `pulumi up` migrates before the Deployments roll. The password reaches the services through `password` (a
 * secret Output the caller puts into the services' namespace), never through the stack file.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { secretData } from "../cluster/secret-data.ts";

export interface DatabaseSchemaArgs {
  /** The data namespace, where TiDB and its root Secret live. */
  namespace: pulumi.Input<string>;
  databaseName: string;
  host: pulumi.Input<string>;
  port: number;
  /** An image with /app/services/lib/migrate.js and /app/services/migrations (the services' images). */
  image: pulumi.Input<string>;
  /** The Secret and key of TiDB's root password. */
  rootSecret: { name: string; key: string };
  /** The account the Job signs in as to create the schema and the user. Default root. */
  rootUser?: string;
  /**
   * The application user's password. Default: generated here (@pulumi/random). An existing-cluster stack passes one
   * derived from its secret seed, since the random provider may be absent (infra/cluster/existing-cluster.ts).
   */
  password?: pulumi.Input<string>;
  /** TiDB's SQL TLS: the Secret (client certificate and ca.crt) the Job verifies the server with. Default none. */
  tls?: { clientSecretName: string } | undefined;
  /** Taints the Job's pod tolerates. Default none. */
  tolerations?: k8s.types.input.core.v1.Toleration[];
  /** Node labels the Job's pod must match (an existing cluster's `cluster.nodeSelector`). Default none. */
  nodeSelector?: Record<string, string>;
  /** Seconds the Job waits for TiDB to answer (a new cluster takes minutes). Default 900. */
  connectTimeoutSeconds?: number;
  provider: k8s.Provider;
}

/** The services' database user. */
export const APP_DB_USER = "im_app";
/** Where the Job finds TiDB's CA when the cluster speaks TLS. */
const TLS_MOUNT_PATH = "/etc/tidb-tls";
/** The Job's name; replaced (not patched) when its image or script changes. */
export const MIGRATE_JOB_NAME = "im-migrate";

/**
 * The Job's program. Plain ESM run by the image's Node from a mounted ConfigMap: mysql2 and the migrator resolve from
 * /app (the image's WORKDIR), not from the script's own directory. Exits 78 (EX_CONFIG) on a missing setting.
 * test/integration/migrate-job.test.ts runs it against a real MariaDB.
 */
export const MIGRATE_SCRIPT = `import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
const setting = (name) => {
  const value = process.env[name];
  if (value === undefined || value === "") {
    console.error(\`migrate: \${name} is not set\`);
    process.exit(78);
  }
  return value;
};
const host = setting("DB_HOST");
const port = Number(setting("DB_PORT"));
const database = setting("DB_NAME");
const user = setting("DB_USER");
const password = setting("DB_PASSWORD");
const rootUser = process.env.ROOT_USER || "root";
const rootPassword = process.env.ROOT_PASSWORD ?? "";
const deadline = Date.now() + Number(setting("CONNECT_TIMEOUT_SECONDS")) * 1000;
if (!/^[a-z][a-z0-9_]{0,63}$/.test(database)) {
  console.error(\`migrate: DB_NAME \${JSON.stringify(database)} is not a plain schema name\`);
  process.exit(78);
}
// Settings first, so a misconfigured Job says so before anything else can fail. APP_ROOT: where the image keeps the
// services (its WORKDIR); the integration test points it at a checkout.
const appRoot = process.env.APP_ROOT ?? "/app";
const require = createRequire(\`\${appRoot}/package.json\`);
const mysql = require("mysql2/promise");
const { migrate } = await import(\`\${appRoot}/services/lib/migrate.js\`);
// TLS when the cluster offers it: the server's certificate is verified against the platform's CA.
const caFile = process.env.DB_TLS_CA_FILE;
const ssl = caFile === undefined || caFile === "" ? undefined : { ca: readFileSync(caFile, "utf8"), rejectUnauthorized: true };
let conn;
for (let attempt = 1; conn === undefined; attempt++) {
  try {
    conn = await mysql.createConnection({ host, port, user: rootUser, password: rootPassword, connectTimeout: 10000, ...(ssl ? { ssl } : {}) });
  } catch (err) {
    if (Date.now() > deadline) throw err;
    console.log(\`migrate: TiDB at \${host}:\${port} does not answer yet (\${err.code ?? err.message}), attempt \${attempt}\`);
    await new Promise((resolve) => setTimeout(resolve, 5000));
  }
}
await conn.query(\`CREATE DATABASE IF NOT EXISTS \\\`\${database}\\\`\`);
await conn.query("CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?", [user, password]);
await conn.query("ALTER USER ?@'%' IDENTIFIED BY ?", [user, password]);
await conn.query(\`GRANT SELECT, INSERT, UPDATE, DELETE ON \\\`\${database}\\\`.* TO ?@'%'\`, [user]);
await conn.query(\`USE \\\`\${database}\\\`\`);
const result = await migrate(conn);
console.log(JSON.stringify({ database, user, applied: result.applied, current: result.current }));
await conn.end();
`;

export class DatabaseSchema extends pulumi.ComponentResource {
  readonly user: string = APP_DB_USER;
  /** The application user's password (secret). */
  readonly password: pulumi.Output<string>;
  /** Done when the migrations have run: the services depend on it. */
  readonly job: k8s.batch.v1.Job;

  constructor(name: string, args: DatabaseSchemaArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:data:DatabaseSchema", name, {}, opts);
    const on = { parent: this, provider: args.provider };
    const password =
      args.password === undefined
        ? new random.RandomPassword(
            `${name}-app-password`,
            { length: 32, special: false, minLower: 2, minUpper: 2, minNumeric: 2 },
            { parent: this },
          ).result
        : pulumi.secret(args.password);
    const secret = new k8s.core.v1.Secret(
      `${name}-credentials`,
      {
        metadata: { name: `${MIGRATE_JOB_NAME}-credentials`, namespace: args.namespace },
        type: "Opaque",
        data: secretData({ DB_PASSWORD: password }),
      },
      on,
    );
    const script = new k8s.core.v1.ConfigMap(
      `${name}-script`,
      {
        metadata: { name: `${MIGRATE_JOB_NAME}-script`, namespace: args.namespace },
        data: { "migrate.mjs": MIGRATE_SCRIPT },
      },
      on,
    );
    const fromSecret = (secretName: string, key: string) => ({ secretKeyRef: { name: secretName, key } });
    this.job = new k8s.batch.v1.Job(
      name,
      {
        metadata: {
          name: MIGRATE_JOB_NAME,
          namespace: args.namespace,
          labels: { "app.kubernetes.io/name": MIGRATE_JOB_NAME, "app.kubernetes.io/part-of": "im-platform" },
        },
        spec: {
          backoffLimit: 4,
          activeDeadlineSeconds: (args.connectTimeoutSeconds ?? 900) + 600,
          template: {
            metadata: { labels: { "app.kubernetes.io/name": MIGRATE_JOB_NAME } },
            spec: {
              restartPolicy: "Never",
              automountServiceAccountToken: false,
              ...(args.tolerations === undefined ? {} : { tolerations: args.tolerations }),
              ...(args.nodeSelector === undefined || Object.keys(args.nodeSelector).length === 0
                ? {}
                : { nodeSelector: args.nodeSelector }),
              securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
              containers: [
                {
                  name: "migrate",
                  image: args.image,
                  workingDir: "/app",
                  command: ["node", "/migrate/migrate.mjs"],
                  env: [
                    { name: "DB_HOST", value: args.host },
                    { name: "DB_PORT", value: String(args.port) },
                    { name: "DB_NAME", value: args.databaseName },
                    { name: "DB_USER", value: APP_DB_USER },
                    { name: "DB_PASSWORD", valueFrom: fromSecret(`${MIGRATE_JOB_NAME}-credentials`, "DB_PASSWORD") },
                    { name: "ROOT_USER", value: args.rootUser ?? "root" },
                    { name: "ROOT_PASSWORD", valueFrom: fromSecret(args.rootSecret.name, args.rootSecret.key) },
                    { name: "CONNECT_TIMEOUT_SECONDS", value: String(args.connectTimeoutSeconds ?? 900) },
                    ...(args.tls === undefined ? [] : [{ name: "DB_TLS_CA_FILE", value: `${TLS_MOUNT_PATH}/ca.crt` }]),
                  ],
                  volumeMounts: [
                    { name: "script", mountPath: "/migrate", readOnly: true },
                    ...(args.tls === undefined ? [] : [{ name: "tls", mountPath: TLS_MOUNT_PATH, readOnly: true }]),
                  ],
                  resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { drop: ["ALL"] },
                  },
                },
              ],
              volumes: [
                { name: "script", configMap: { name: script.metadata.name } },
                ...(args.tls === undefined ? [] : [{ name: "tls", secret: { secretName: args.tls.clientSecretName } }]),
              ],
            },
          },
        },
      },
      // A Job's template cannot change in place: a new image (a new release) replaces it, which runs the migrations.
      {
        ...on,
        dependsOn: [secret, script],
        deleteBeforeReplace: true,
        customTimeouts: { create: "30m", update: "30m" },
      },
    );
    this.password = password;
    this.registerOutputs({ user: this.user, job: this.job.metadata.name });
  }
}
