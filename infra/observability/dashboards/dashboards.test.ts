import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { execa } from "execa";
import { stringify } from "yaml";
import { toolPath } from "../../../base/tools.mjs";
import { knownMetrics } from "../metrics-catalog.ts";
import { alertRules, metricNames } from "../rules.ts";
import { dashboardQueries } from "./grafana.ts";
import { platformDashboards, tenantDashboard } from "./platform-dashboards.ts";
import { DASHBOARD_SERVICES, serviceDashboard } from "./service-dashboards.ts";

const tenants = [
  { platform: "multicloud", cloud: "aws", region: "us-east-1" },
  { platform: "multicloud", cloud: "alicloud", region: "cn-hangzhou" },
];
const all = platformDashboards(tenants);

describe("Grafana dashboards from code", () => {
  it("are the overview, one per service and one per tenant, with unique uids Grafana accepts", () => {
    assert.deepEqual(
      all.map((d) => d.uid),
      [
        "im-overview",
        "im-service-gateway",
        "im-service-message",
        "im-service-user-center",
        "im-tenant-multicloud-aws",
        "im-tenant-multicloud-alicloud",
      ],
    );
    for (const d of all) assert.ok(d.uid.length <= 40 && /^[a-z0-9-]+$/.test(d.uid), d.uid);
  });

  it("read only metrics the services and exporters export", () => {
    const known = knownMetrics();
    for (const d of all) {
      for (const q of dashboardQueries(d)) {
        const names = metricNames(q);
        assert.ok(names.length > 0, `${d.uid}: no metric in ${q}`);
        for (const n of names)
          assert.ok(known.has(n), `${d.uid}: ${n} (in ${q}) is not exported by any service or exporter`);
      }
    }
  });

  it("the alert rules read only exported metrics too", () => {
    const known = knownMetrics();
    for (const r of alertRules())
      for (const n of metricNames(r.expr)) assert.ok(known.has(n), `${r.alert}: ${n} is not exported`);
  });

  it("draw the alerts' thresholds where they watch the same thing", () => {
    const overview = all[0];
    const threshold = (title: string) => {
      const p = overview?.panels.find((x) => x.title === title);
      const steps = (p?.fieldConfig as { defaults: { thresholds: { steps: Array<{ value: number | null }> } } })
        .defaults.thresholds.steps;
      return steps[1]?.value;
    };
    assert.equal(threshold("p99 delivery"), 0.15);
    assert.equal(threshold("Message backlog"), 1000);
    assert.equal(threshold("Host CPU"), 85);
    assert.equal(threshold("Gateway egress against its cap"), 70);
    assert.equal(threshold("Packet loss (TCP retransmits)"), 5);
  });

  it("scope every query of a tenant's dashboard to that tenant, and match clusters without the labels", () => {
    const d = tenantDashboard({ platform: "aws-prod", cloud: "aws", region: "us-east-1" });
    for (const q of dashboardQueries(d)) {
      for (const n of metricNames(q)) {
        const selectors = [...q.matchAll(new RegExp(`\\b${n}\\{([^}]*)\\}`, "g"))].map((m) => m[1] ?? "");
        assert.ok(
          selectors.length > 0 &&
            selectors.every((s) => s.includes('platform=~"aws-prod|"') && s.includes('cloud=~"aws|"')),
          `${n} unscoped in ${q}`,
        );
      }
    }
  });

  it("filter each service's common panels to that service", () => {
    for (const s of DASHBOARD_SERVICES) {
      const d = serviceDashboard(s);
      const requests = dashboardQueries(d).filter((q) => q.includes("im_requests_total"));
      assert.ok(requests.length > 0 && requests.every((q) => q.includes(`service="${s}"`)), s);
    }
  });

  it("lay panels out on Grafana's 24-column grid without overlap, ids unique", () => {
    for (const d of all) {
      const ids = d.panels.map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, d.uid);
      const cells = new Set<string>();
      for (const p of d.panels) {
        const g = p.gridPos;
        assert.ok(g.x >= 0 && g.x + g.w <= 24, `${d.uid}: ${p.title} outside the grid`);
        for (let x = g.x; x < g.x + g.w; x++)
          for (let y = g.y; y < g.y + g.h; y++) {
            assert.ok(!cells.has(`${x},${y}`), `${d.uid}: ${p.title} overlaps at ${x},${y}`);
            cells.add(`${x},${y}`);
          }
      }
    }
  });

  it("hold only PromQL that Prometheus parses (promtool check rules)", async () => {
    const exprs = [...new Set(all.flatMap(dashboardQueries))];
    const dir = mkdtempSync(join(tmpdir(), "im-dashboards-"));
    try {
      const file = join(dir, "queries.yml");
      writeFileSync(
        file,
        stringify({
          groups: [{ name: "dashboards", rules: exprs.map((expr, i) => ({ record: `dashboard:query${i}`, expr })) }],
        }),
      );
      const r = await execa(toolPath("promtool"), ["check", "rules", file], { reject: false });
      assert.equal(r.exitCode, 0, r.stdout + r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
