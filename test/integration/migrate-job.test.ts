/**
 * The migrations Job's script (infra/data/database-schema.ts) against a real MariaDB (the local target's TiDB
 * stand-in, from .tools/): it creates the schema and the services' user with only DML rights, applies every
 * migration, and a second run (a new release, a rotated password) re-keys the user and applies nothing twice. The
 * server also offers TLS with a certificate from a test CA, as TiDB does with cert-manager's: the Job verifies it.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa, type ResultPromise } from "execa";
import mysql from "mysql2/promise";
import { REPO_ROOT } from "../../base/root.mjs";
import { portFree } from "../../base/ports.ts";
import { MIGRATE_SCRIPT } from "../../infra/data/database-schema.ts";
import { loadMigrations } from "../../services/lib/migrate.ts";
import { tempDir } from "../helpers/imctl.ts";

const TOOLS = join(REPO_ROOT, ".tools", "bin");
const ROOT_PASSWORD = "root-Secret-1";
const asRoot = process.getuid?.() === 0 ? ["--user=root"] : [];

describe("the migrations Job's script on a real MySQL-protocol server", () => {
  const dir = tempDir("migrate-job");
  const socket = join(dir, "mysqld.sock");
  const script = join(dir, "migrate.mjs");
  let port = 0;
  let server: ResultPromise | undefined;

  before(async () => {
    for (const tool of ["mariadbd", "mariadb-install-db"])
      assert.ok(existsSync(join(TOOLS, tool)), `${tool} is missing: run "npm run bootstrap"`);
    for (const candidate of [24306, 24316, 24326, 24336]) {
      if (await portFree("127.0.0.1", candidate)) {
        port = candidate;
        break;
      }
    }
    assert.ok(port > 0, "no free port among 24306-24336");
    const data = join(dir, "data");
    mkdirSync(data, { recursive: true });
    // A CA and a server certificate for 127.0.0.1, as cert-manager issues TiDB's (the Job checks the address).
    const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
      "req",
      "-x509",
      ...ec,
      "-days",
      "2",
      "-subj",
      "/CN=test CA",
      "-keyout",
      join(dir, "ca-key.pem"),
      "-out",
      join(dir, "ca.crt"),
    );
    openssl("req", ...ec, "-subj", "/CN=TiDB", "-keyout", join(dir, "server-key.pem"), "-out", join(dir, "server.csr"));
    writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
    openssl(
      "x509",
      "-req",
      "-in",
      join(dir, "server.csr"),
      "-CA",
      join(dir, "ca.crt"),
      "-CAkey",
      join(dir, "ca-key.pem"),
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      join(dir, "san.ext"),
      "-out",
      join(dir, "server.crt"),
    );
    await execa(join(TOOLS, "mariadb-install-db"), [
      "--no-defaults",
      `--datadir=${data}`,
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
      ...asRoot,
    ]);
    server = execa(
      join(TOOLS, "mariadbd"),
      [
        "--no-defaults",
        `--datadir=${data}`,
        `--socket=${socket}`,
        `--pid-file=${join(dir, "mariadbd.pid")}`,
        "--bind-address=127.0.0.1",
        `--port=${port}`,
        "--skip-name-resolve",
        "--log-error=",
        `--ssl-ca=${join(dir, "ca.crt")}`,
        `--ssl-cert=${join(dir, "server.crt")}`,
        `--ssl-key=${join(dir, "server-key.pem")}`,
        ...asRoot,
      ],
      { reject: false, stdio: "ignore" },
    );
    // Root over the socket, then a TCP root like TiDB's (the Job connects over the network).
    const deadline = Date.now() + 60_000;
    let conn: mysql.Connection | undefined;
    while (conn === undefined) {
      try {
        conn = await mysql.createConnection({ socketPath: socket, user: "root" });
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await conn.query("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ?", [ROOT_PASSWORD]);
    await conn.query("ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY ?", [ROOT_PASSWORD]);
    await conn.query("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION");
    await conn.end();
    writeFileSync(script, MIGRATE_SCRIPT);
  });

  after(async () => {
    if (server !== undefined) {
      server.kill("SIGTERM");
      await server;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const runJob = (password: string, extra: Record<string, string> = {}) =>
    execa(process.execPath, ["--import", "tsx", script], {
      reject: false,
      cwd: REPO_ROOT,
      extendEnv: false,
      env: {
        PATH: process.env.PATH ?? "",
        APP_ROOT: REPO_ROOT,
        DB_HOST: "127.0.0.1",
        DB_PORT: String(port),
        DB_NAME: "im",
        DB_USER: "im_app",
        DB_PASSWORD: password,
        ROOT_PASSWORD,
        CONNECT_TIMEOUT_SECONDS: "30",
        ...extra,
      },
    });
  const asApp = (password: string) =>
    mysql.createConnection({ host: "127.0.0.1", port, user: "im_app", password, database: "im" });
  const names = loadMigrations().map((m) => m.name);

  it("creates the schema and a DML-only user, and applies every migration", { timeout: 120_000 }, async () => {
    const r = await runJob("app-Password-1");
    assert.equal(r.exitCode, 0, r.stderr);
    const report = JSON.parse(String(r.stdout).trim().split("\n").at(-1) ?? "{}");
    assert.deepEqual(report, { database: "im", user: "im_app", applied: names, current: names.at(-1) });
    const app = await asApp("app-Password-1");
    try {
      const [rows] = await app.query<mysql.RowDataPacket[]>("SELECT name FROM schema_migrations ORDER BY version");
      assert.deepEqual(
        rows.map((x) => x.name),
        names,
      );
      await assert.rejects(
        () => app.query("CREATE TABLE intruder (id INT PRIMARY KEY)"),
        (err: { code?: string }) => err.code === "ER_TABLEACCESS_DENIED_ERROR",
      );
      await assert.rejects(
        () => app.query("DROP TABLE schema_migrations"),
        (err: { code?: string }) => err.code === "ER_TABLEACCESS_DENIED_ERROR",
      );
    } finally {
      await app.end();
    }
  });

  it("re-keys the user and applies nothing twice when it runs again", { timeout: 120_000 }, async () => {
    const r = await runJob("app-Password-2");
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(JSON.parse(String(r.stdout).trim().split("\n").at(-1) ?? "{}").applied, []);
    await assert.rejects(
      () => asApp("app-Password-1"),
      (err: { code?: string }) => err.code === "ER_ACCESS_DENIED_ERROR",
    );
    const app = await asApp("app-Password-2");
    await app.end();
  });

  it(
    "connects over TLS, verifying the server against the CA it is given, once the server insists on it",
    { timeout: 120_000 },
    async () => {
      const root = await mysql.createConnection({ socketPath: socket, user: "root" });
      await root.query("ALTER USER 'root'@'127.0.0.1' REQUIRE SSL");
      await root.end();
      const plain = await runJob("app-Password-3", { CONNECT_TIMEOUT_SECONDS: "1" });
      assert.notEqual(plain.exitCode, 0, "without the CA the Job speaks plaintext, which the server now refuses");
      assert.match(String(plain.stderr), /Access denied/);
      const r = await runJob("app-Password-3", { DB_TLS_CA_FILE: join(dir, "ca.crt") });
      assert.equal(r.exitCode, 0, r.stderr);
      assert.deepEqual(JSON.parse(String(r.stdout).trim().split("\n").at(-1) ?? "{}").applied, []);
      const wrongCa = join(dir, "other-ca.crt");
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-days",
          "2",
          "-subj",
          "/CN=other CA",
          "-keyout",
          join(dir, "other-key.pem"),
          "-out",
          wrongCa,
        ],
        { stdio: "ignore" },
      );
      const mistrusted = await runJob("app-Password-3", { DB_TLS_CA_FILE: wrongCa, CONNECT_TIMEOUT_SECONDS: "1" });
      assert.notEqual(mistrusted.exitCode, 0, "a server certificate from another CA is refused");
      assert.match(String(mistrusted.stderr), /self[- ]signed|unable to verify|certificate/i);
    },
  );
});
