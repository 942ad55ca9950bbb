/**
 * `imctl doctor` against a real local platform: green and exit 0 when healthy; after one Kafka broker is killed it
 * exits 1 and names that broker, and the KafkaBrokerDown alert fires on the real series; green again once
 * `imctl local up` restarted it. Also holds the metric catalog
 * (what the alert rules and dashboards read) to what this platform's Prometheus really has.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { z } from "zod";
import { EXPORTER_METRICS, serviceMetrics } from "../../../infra/observability/metrics-catalog.ts";
import type { TestPlatform } from "../../helpers/platform.ts";

const doctorJson = z.object({
  healthy: z.boolean(),
  failing: z.array(z.string()),
  warnings: z.array(z.string()),
  checks: z.array(
    z.object({
      area: z.string(),
      name: z.string(),
      status: z.enum(["ok", "warn", "fail", "info"]),
      detail: z.string(),
    }),
  ),
});

let p: TestPlatform;

async function doctor() {
  const r = await p.run("doctor", "--json");
  return { exitCode: r.exitCode, stderr: r.stderr, report: doctorJson.parse(JSON.parse(r.stdout)) };
}

type DoctorRun = Awaited<ReturnType<typeof doctor>>;

/** Polls `doctor` until `done` (bounded): Prometheus needs scrapes and rule evaluations to see a change. */
async function doctorUntil(done: (d: DoctorRun) => boolean, timeoutMs: number): Promise<DoctorRun> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await doctor();
    if (done(d) || Date.now() > deadline) return d;
    await new Promise((r) => setTimeout(r, 2000));
  }
}

const healthyDoctor = (timeoutMs: number) => doctorUntil((d) => d.exitCode === 0, timeoutMs);

export function doctorSuite(platform: () => Promise<TestPlatform>): void {
  describe("imctl doctor on the local target", () => {
    before(async () => {
      p = await platform();
    });

    it("is green with exit 0 on a healthy platform, every area checked", async () => {
      const d = await healthyDoctor(60_000);
      assert.equal(d.exitCode, 0, JSON.stringify(d.report.failing) + d.stderr);
      assert.equal(d.report.healthy, true);
      assert.deepEqual(d.report.failing, []);
      const areas = new Set(d.report.checks.map((c) => c.area));
      for (const a of ["component", "platform", "replication", "alerts", "backlog", "disk", "certificates"])
        assert.ok(areas.has(a), `no ${a} check`);
      const components = d.report.checks.filter((c) => c.area === "component").map((c) => c.name);
      for (const id of [
        "redis-1",
        "redis-6",
        "kafka-1",
        "kafka-2",
        "kafka-3",
        "mariadb",
        "nginx",
        "prometheus",
        "gateway-1",
        "message-1",
        "user-center-1",
      ])
        assert.ok(components.includes(id), id);
      const row = (name: string) => d.report.checks.find((c) => c.name === name);
      assert.equal(row("redis-replication")?.status, "ok", row("redis-replication")?.detail);
      assert.match(row("redis-replication")?.detail ?? "", /^3 replica\(s\) linked/);
      assert.equal(row("kafka-replication")?.status, "ok", row("kafka-replication")?.detail);
      assert.match(
        row("kafka-replication")?.detail ?? "",
        /^3 broker\(s\) reporting: 0 under-replicated, 0 below min.insync.replicas, 0 offline/,
      );
      assert.equal(row("message-backlog")?.status, "ok");
      assert.deepEqual(row("certificates"), {
        area: "certificates",
        name: "certificates",
        status: "info",
        detail: "no TLS endpoints on the local target",
      });
    });

    it("finds every metric the alert rules and dashboards read in the platform's Prometheus", async () => {
      const res = await fetch(
        `http://${p.spec.local.bindAddress}:${p.spec.local.ports.prometheus}/api/v1/label/__name__/values`,
      );
      const names = new Set(z.object({ data: z.array(z.string()) }).parse(await res.json()).data);
      // Labelled counters appear only once incremented: the services' declarations are checked by the unit tests.
      const exporters = EXPORTER_METRICS.filter((n) => n !== "ALERTS" && !names.has(n));
      assert.deepEqual(
        exporters,
        [],
        "exporter metrics the rules or dashboards read but the local target does not export",
      );
      const unlabelled = serviceMetrics().filter((m) => !m.labelled);
      assert.ok(unlabelled.length >= 20, `only ${unlabelled.length} unlabelled service metrics found in services/`);
      assert.deepEqual(
        unlabelled.map((m) => m.name).filter((n) => !names.has(n)),
        [],
        "service metrics missing from Prometheus",
      );
    });

    it("exits 1 naming the broken component after a Kafka broker is killed, and is green again after local up", async () => {
      const pid = p.pid("kafka-2");
      process.kill(pid, "SIGKILL");
      const broken = await doctor();
      assert.equal(broken.exitCode, 1);
      assert.equal(broken.report.healthy, false);
      assert.ok(broken.report.failing.includes("kafka-2"), `failing: ${broken.report.failing.join(", ")}`);
      const row = broken.report.checks.find((c) => c.name === "kafka-2");
      assert.equal(row?.status, "fail");
      assert.ok(
        !broken.report.failing.some((n) => /^(redis|gateway|message|user-center|mariadb|nginx)-?\d*$/.test(n)),
        `only Kafka is broken: ${broken.report.failing.join(", ")}`,
      );
      const text = await p.run("doctor");
      assert.equal(text.exitCode, 1);
      assert.match(text.stdout, /doctor: NOT healthy: \d+ failing: .*kafka-2/);
      assert.match(text.stdout, /^ {2}- kafka-2: /m);

      // The alert rules on the real series: KafkaBrokerDown fires for that broker's JMX endpoint (for: 30s), and doctor
      // reports it as a failing critical alert.
      const jmx = `${p.spec.local.bindAddress}:${p.spec.local.ports.kafkaJmx + 1}`;
      const alerted = await doctorUntil(
        (d) =>
          (d.report.checks.find((c) => c.name === "firing-alerts")?.detail ?? "").includes(
            `KafkaBrokerDown(${jmx}) critical`,
          ),
        120_000,
      );
      const alerts = alerted.report.checks.find((c) => c.name === "firing-alerts");
      assert.equal(alerts?.status, "fail", alerts?.detail);
      assert.ok(alerts?.detail.includes(`KafkaBrokerDown(${jmx}) critical`), alerts?.detail);

      const up = await p.run("local", "up");
      assert.equal(up.exitCode, 0, up.stderr.split("\n").slice(-10).join("\n"));
      const repaired = await healthyDoctor(120_000);
      assert.equal(repaired.exitCode, 0, `still failing: ${repaired.report.failing.join(", ")}`);
    });
  });
}
