import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { MESSAGES } from "./messages.ts";
import { presentedCertificate } from "../../lib/tls.ts";
import type { HealthReport, HealthTarget, Sample } from "../../targets/target.ts";
import {
  certificates,
  diskSpace,
  firingAlerts,
  healthChecks,
  kafkaReplication,
  messageBacklog,
  redisReplication,
} from "./checks.ts";
import { doctorOn, QUERIES, renderDoctor, type DoctorResult } from "./index.ts";

const s = (value: number, labels: Record<string, string> = {}): Sample => ({ labels, value });
const GiB = 1024 ** 3;

describe("imctl doctor checks", () => {
  it("turn every component and platform check into a row named after it", () => {
    const h: HealthReport = {
      healthy: false,
      components: [
        { id: "kafka-1", group: "kafka", healthy: true, detail: "broker 1 registered" },
        { id: "kafka-2", group: "kafka", healthy: false, detail: "not running" },
      ],
      checks: [{ name: "redis-cluster", ok: true, detail: "cluster_state ok" }],
    };
    assert.deepEqual(
      healthChecks(h).map((c) => [c.area, c.name, c.status]),
      [
        ["component", "kafka-1", "ok"],
        ["component", "kafka-2", "fail"],
        ["platform", "redis-cluster", "ok"],
      ],
    );
  });

  it("fail Redis replication on a link down, warn on lag above 5 s, fail when no replica reports", () => {
    const link = (up: number, instance: string) => s(up, { instance, master_host: "127.0.0.1", master_port: "17002" });
    assert.equal(
      redisReplication([link(1, "r4"), link(1, "r5")], [s(1, { instance: "r1", slave_port: "17004" })]).status,
      "ok",
    );
    const down = redisReplication([link(1, "r4"), link(0, "r5")], []);
    assert.equal(down.status, "fail");
    assert.match(down.detail, /link to the primary down on r5 -> 127.0.0.1:17002/);
    const lag = redisReplication(
      [link(1, "r4")],
      [s(1, { instance: "r1", slave_port: "17004" }), s(9, { instance: "r2", slave_port: "17005" })],
    );
    assert.equal(lag.status, "warn");
    assert.match(lag.detail, /max lag 9 s \(replica :17005 of r2/);
    assert.equal(redisReplication([], []).status, "fail");
  });

  it("fail Kafka replication on any under-replicated, under-min-ISR or offline partition", () => {
    const zero = [s(0, { instance: "k1" }), s(0, { instance: "k2" })];
    assert.equal(kafkaReplication(zero, zero, [s(0)]).status, "ok");
    const ur = kafkaReplication([s(0, { instance: "k1" }), s(3, { instance: "k2" })], zero, [s(0)]);
    assert.equal(ur.status, "fail");
    assert.match(ur.detail, /3 under-replicated.*\(leaders: k2\)/);
    assert.equal(kafkaReplication(zero, [s(1, { instance: "k1" })], [s(0)]).status, "fail");
    assert.equal(kafkaReplication(zero, zero, [s(2)]).status, "fail");
    assert.equal(kafkaReplication([], [], []).status, "fail");
  });

  it("fail on a critical alert firing, warn on warnings only", () => {
    assert.equal(firingAlerts([]).status, "ok");
    const warn = firingAlerts([s(1, { alertname: "HostCpuHigh", severity: "warning", instance: "host" })]);
    assert.deepEqual([warn.status, warn.detail], ["warn", "1 firing: HostCpuHigh(host) warning"]);
    const crit = firingAlerts([
      s(1, { alertname: "HostCpuHigh", severity: "warning" }),
      s(1, { alertname: "KafkaBrokerDown", severity: "critical", instance: "k2" }),
    ]);
    assert.equal(crit.status, "fail");
    assert.match(crit.detail, /KafkaBrokerDown\(k2\) critical/);
  });

  it("hold the message backlog to 1,000 (warning above half), summed over the message instances", () => {
    assert.equal(messageBacklog([s(200), s(250)]).status, "ok");
    assert.equal(messageBacklog([s(300), s(300)]).status, "warn");
    const over = messageBacklog([s(600), s(600)]);
    assert.equal(over.status, "fail");
    assert.match(over.detail, /^1200 message\(s\) waiting for fan-out across 2 message instance\(s\) \(limit 1000\)/);
    assert.equal(messageBacklog([s(600), s(600)], 3000).status, "ok");
    assert.equal(messageBacklog([]).status, "fail", "no instance reporting is not a green backlog");
  });

  it("fail a data filesystem under the free-space floor, warn under 20 %", () => {
    const fs = (free: number) => [{ what: "state dir /x", freeBytes: free * GiB, sizeBytes: 100 * GiB }];
    assert.equal(diskSpace(fs(50))[0]?.status, "ok");
    assert.equal(diskSpace(fs(15))[0]?.status, "warn");
    assert.equal(diskSpace(fs(5))[0]?.status, "fail");
    assert.equal(diskSpace(fs(25), 30)[0]?.status, "fail");
    assert.match(
      diskSpace(fs(5))[0]?.detail ?? "",
      /state dir \/x: 5.0 GiB free of 100.0 GiB \(5 %, fails below 10 %\)/,
    );
  });

  it("say so when a target has no TLS endpoint, and judge expiry when it has", () => {
    const now = new Date("2026-12-01T00:00:00Z");
    assert.deepEqual(certificates("local", [], now), [
      { area: "certificates", name: "certificates", status: "info", detail: "no TLS endpoints on the local target" },
    ]);
    const at = (days: number) => new Date(now.getTime() + days * 86_400_000);
    const rows = certificates(
      "kubernetes",
      [
        { endpoint: "a", validTo: at(90), trusted: true },
        { endpoint: "b", validTo: at(20), trusted: true },
        { endpoint: "c", validTo: at(3), trusted: false },
        { endpoint: "d", error: "connection refused" },
      ],
      now,
    );
    assert.deepEqual(
      rows.map((r) => r.status),
      ["ok", "warn", "fail", "fail"],
    );
    assert.match(rows[2]?.detail ?? "", /expires 2026-12-04 \(3 day\(s\)\), not trusted by this machine/);
  });

  it("renders a table and names every failing check with its detail", () => {
    const r: DoctorResult = {
      target: "local",
      stack: "stacks/local.yaml",
      checkedAt: "2026-12-01T00:00:00Z",
      healthy: false,
      checks: [
        { area: "component", name: "kafka-1", status: "ok", detail: "broker 1 registered" },
        { area: "component", name: "kafka-2", status: "fail", detail: "not running" },
      ],
      failing: ["kafka-2"],
      warnings: [],
      prometheusQueries: {} as DoctorResult["prometheusQueries"],
    };
    const text = renderDoctor(r);
    assert.match(text, /^AREA\s+CHECK\s+RESULT\s+DETAIL$/m);
    assert.match(text, /^component\s+kafka-2\s+FAIL\s+not running$/m);
    assert.match(text, /^doctor: NOT healthy: 1 failing: kafka-2\n {2}- kafka-2: not running$/m);
    assert.match(text, /imctl local logs <component>/);
    const none = renderDoctor({
      ...r,
      checks: r.checks.map((c) => ({ ...c, status: "fail" as const, detail: "not running" })),
      failing: ["kafka-1", "kafka-2"],
    });
    assert.match(none, /nothing of the platform is running on this target: start it with imctl local up$/);
  });
});

describe("imctl doctor on a kubernetes target", () => {
  const healthy: HealthReport = {
    healthy: true,
    components: [{ id: "im/gateway-stable", group: "deployment", healthy: true, detail: "2/2 ready, 2 updated" }],
    checks: [{ name: "hpa im/gateway", ok: true, note: "warn", detail: "cannot read resource metrics" }],
  };
  const target = (o: { prometheus: string | null; answer?: (promql: string) => Sample[] }): HealthTarget => {
    return {
      kind: "kubernetes",
      health: async () => healthy,
      dataFilesystems: async () => [],
      certificateFacts: async () => [],
      metricsSource: () => o.prometheus,
      query: async (promql) => {
        if (o.answer === undefined) throw new Error("connection refused");
        return o.answer(promql);
      },
    };
  };

  it("without a Prometheus: one info row, no query, and healthy (a warning is not a failure)", async () => {
    const r = await doctorOn(target({ prometheus: null }), "embedded.yaml");
    assert.equal(r.healthy, true);
    assert.deepEqual(r.prometheusQueries, {});
    assert.deepEqual(
      r.checks.find((c) => c.area === "metrics"),
      { area: "metrics", name: "prometheus", status: "info", detail: MESSAGES.noPrometheus },
    );
    assert.deepEqual(r.warnings, ["hpa im/gateway"]);
    assert.match(r.checks.at(-1)?.detail ?? "", /no kubernetes.io\/tls Secret/);
  });

  it("asks only for alerts and backlog; absent data-tier series fail nothing, an absent backlog only warns", async () => {
    const asked: string[] = [];
    const t = target({
      prometheus: "http://prometheus:9090",
      answer: (q) => (asked.push(q), []),
    });
    const r = await doctorOn(t, "embedded.yaml");
    assert.deepEqual(asked.sort(), [QUERIES.alerts, QUERIES.backlog].sort());
    assert.deepEqual(Object.keys(r.prometheusQueries).sort(), ["alerts", "backlog"]);
    assert.equal(r.healthy, true);
    const backlog = r.checks.find((c) => c.name === "message-backlog");
    assert.deepEqual([backlog?.status, backlog?.detail], ["warn", MESSAGES.backlogUnscraped]);
    const lagging = await doctorOn(
      target({
        prometheus: "p",
        answer: (q) => (q === QUERIES.backlog ? [s(5000)] : [s(1, { alertname: "X", severity: "critical" })]),
      }),
      "embedded.yaml",
    );
    assert.deepEqual(lagging.failing, ["firing-alerts", "message-backlog"]);
  });

  it("fails one row when the named Prometheus does not answer, and hints at kubectl", async () => {
    const r = await doctorOn(target({ prometheus: "http://prometheus:9090" }), "embedded.yaml");
    assert.deepEqual(r.failing, ["prometheus-queries"]);
    assert.equal(
      r.checks.find((c) => c.name === "prometheus-queries")?.detail,
      MESSAGES.prometheusDown("connection refused", "alert and backlog"),
    );
    assert.match(renderDoctor(r), /next: kubectl -n <namespace> describe/);
    assert.doesNotMatch(renderDoctor(r), /imctl local/);
  });
});

describe("certificate of a TLS endpoint", () => {
  let dir: string;
  let server: Server;
  let port = 0;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "im-tls-"));
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
        "3",
        "-subj",
        "/CN=im.test",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    server = createServer(
      { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) },
      (socket) => socket.end(),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    port = typeof address === "object" && address !== null ? address.port : 0;
  });
  after(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads the expiry and subject, and says a self-signed one is not trusted", async () => {
    const c = await presentedCertificate({ name: "test", host: "127.0.0.1", port, servername: "im.test" });
    assert.equal(c.subject, "im.test");
    assert.equal(c.trusted, false);
    const days = (c.validTo.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 2 && days <= 3, `expires in ${days} days`);
    const [row] = certificates(
      "kubernetes",
      [{ endpoint: "test", validTo: c.validTo, trusted: c.trusted }],
      new Date(),
    );
    assert.equal(row?.status, "fail", "3 days left is under the 7-day floor");
  });

  it("reports an endpoint that does not answer", async () => {
    await assert.rejects(
      presentedCertificate({ name: "closed", host: "127.0.0.1", port: 1 }, 2000),
      /closed \(127.0.0.1:1\)/,
    );
  });
});
