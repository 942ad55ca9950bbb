/**
 * The platform's Grafana dashboards, generated from code: the overview, one per service, and one per tenant.
 *
 * A tenant here is one deployment of the platform: a stack (stacks/<name>.yaml) in one cloud, e.g. aws-prod on
 * AWS, or multicloud's Alibaba Cloud half. Each is an isolated failure, capacity and billing domain with its own
 * data tier. Its series carry the `platform` (stack name) and `cloud` external labels that kube-prometheus-stack
 * attaches (infra/observability/monitoring.ts): in a Grafana that sees several clusters (Thanos, Mimir,
 * federation) the tenant dashboard shows only that tenant; in the cluster's own Grafana, where the labels are
 * absent, the matchers `=~"<value>|"` match every series, so the same dashboard works there too.
 * Thresholds drawn on the panels are the alert rules' (platform.rules.yml). The shared rows are in platform-rows.ts,
 * the per-service dashboards in service-dashboards.ts, the PromQL helpers in queries.ts.
 */
import { renderDashboard, type DashboardSpec, type GrafanaDashboard } from "./grafana.ts";
import { capacity, dataTier, serviceLevel } from "./platform-rows.ts";
import type { Scope } from "./queries.ts";
import { DASHBOARD_SERVICES, serviceDashboard } from "./service-dashboards.ts";

export interface Tenant {
  /** The stack's name (spec.name), e.g. "aws-prod". */
  platform: string;
  cloud: string;
  region: string;
}

export function overviewDashboard(): GrafanaDashboard {
  const scope: Scope = [];
  return renderDashboard({
    uid: "im-overview",
    title: "IM platform: overview",
    tags: ["im-platform"],
    description:
      "The whole platform at a glance: the seed's service levels and alert thresholds, capacity, the data tier.",
    rows: [serviceLevel(scope), capacity(scope), dataTier(scope)],
  });
}

export function tenantDashboard(t: Tenant): GrafanaDashboard {
  const scope: Scope = [`platform=~"${t.platform}|"`, `cloud=~"${t.cloud}|"`];
  const spec: DashboardSpec = {
    uid: `im-tenant-${t.platform}-${t.cloud}`.slice(0, 40),
    title: `IM tenant: ${t.platform} on ${t.cloud} (${t.region})`,
    tags: ["im-platform", "tenant", t.platform, t.cloud],
    description: `What the users of ${t.platform} on ${t.cloud} get: delivery, errors, connections and the capacity behind them.`,
    rows: [serviceLevel(scope), capacity(scope), dataTier(scope)],
  };
  return renderDashboard(spec);
}

/** Every dashboard of a deployment: the overview, one per service, one per tenant. */
export function platformDashboards(tenants: Tenant[]): GrafanaDashboard[] {
  return [overviewDashboard(), ...DASHBOARD_SERVICES.map(serviceDashboard), ...tenants.map(tenantDashboard)];
}
