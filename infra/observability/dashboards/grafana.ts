/**
 * A small typed model of Grafana dashboard JSON (schema 39, Grafana 10/11): panels are data, the layout is
 * computed, and every panel reads Prometheus through the `datasource` template variable, so one dashboard works
 * against any Prometheus (the cluster's own, or one datasource per tenant in a central Grafana).
 * Pure: no Pulumi, no I/O.
 */

export type Unit = "percent" | "percentunit" | "s" | "ms" | "bytes" | "Bps" | "reqps" | "short" | "none";

export interface Query {
  expr: string;
  /** Grafana legend template, e.g. "{{instance}}". */
  legend?: string;
}

export interface PanelSpec {
  kind: "timeseries" | "stat";
  title: string;
  description?: string;
  unit: Unit;
  queries: Query[];
  /** Value from which the panel turns red (the alert's threshold), if any. */
  threshold?: number;
  /** Full width instead of half (timeseries) or a quarter (stat). */
  wide?: boolean;
}

export interface Row {
  title: string;
  panels: PanelSpec[];
}

export interface DashboardSpec {
  uid: string;
  title: string;
  tags: string[];
  description: string;
  rows: Row[];
  /** Extra template variables (label filters), each a label of one metric. */
  variables?: Array<{ name: string; label: string; metric: string; labelName: string }>;
}

export interface GrafanaPanel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Array<{ refId: string; expr: string; legendFormat: string; datasource: { type: string; uid: string } }>;
  fieldConfig?: unknown;
  options?: unknown;
  collapsed?: boolean;
  panels?: GrafanaPanel[];
}

export interface GrafanaDashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  editable: boolean;
  schemaVersion: number;
  timezone: string;
  refresh: string;
  time: { from: string; to: string };
  templating: { list: unknown[] };
  panels: GrafanaPanel[];
}

const DS = { type: "prometheus", uid: "${datasource}" };
const GRID_WIDTH = 24;

function fieldConfig(p: PanelSpec): unknown {
  const steps: Array<{ color: string; value: number | null }> = [{ color: "green", value: null }];
  if (p.threshold !== undefined) steps.push({ color: "red", value: p.threshold });
  return {
    defaults: {
      unit: p.unit,
      thresholds: { mode: "absolute", steps },
      ...(p.kind === "timeseries"
        ? { custom: { thresholdsStyle: { mode: p.threshold === undefined ? "off" : "line" }, fillOpacity: 10 } }
        : {}),
    },
    overrides: [],
  };
}

/** The dashboard JSON Grafana's sidecar (or its API) loads. Panel ids and positions are stable for a given spec. */
export function renderDashboard(spec: DashboardSpec): GrafanaDashboard {
  let id = 1;
  let y = 0;
  const panels: GrafanaPanel[] = [];
  for (const row of spec.rows) {
    panels.push({
      id: id++,
      type: "row",
      title: row.title,
      gridPos: { x: 0, y, w: GRID_WIDTH, h: 1 },
      collapsed: false,
      panels: [],
    });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const p of row.panels) {
      const w = p.kind === "stat" ? (p.wide ? 12 : 6) : p.wide ? 24 : 12;
      const h = p.kind === "stat" ? 4 : 8;
      if (x + w > GRID_WIDTH) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      panels.push({
        id: id++,
        type: p.kind,
        title: p.title,
        ...(p.description ? { description: p.description } : {}),
        gridPos: { x, y, w, h },
        datasource: DS,
        targets: p.queries.map((q, i) => ({
          refId: String.fromCharCode(65 + i),
          expr: q.expr,
          legendFormat: q.legend ?? "__auto",
          datasource: DS,
        })),
        fieldConfig: fieldConfig(p),
        options:
          p.kind === "stat"
            ? {
                reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false },
                colorMode: "background",
                graphMode: "area",
                textMode: "auto",
              }
            : {
                legend: { displayMode: "list", placement: "bottom", showLegend: true },
                tooltip: { mode: "multi", sort: "desc" },
              },
      });
      x += w;
      rowHeight = Math.max(rowHeight, h);
    }
    y += rowHeight;
  }
  const variables = (spec.variables ?? []).map((v) => ({
    name: v.name,
    label: v.label,
    type: "query",
    datasource: DS,
    query: { query: `label_values(${v.metric}, ${v.labelName})`, refId: "PrometheusVariableQueryEditor-VariableQuery" },
    definition: `label_values(${v.metric}, ${v.labelName})`,
    includeAll: true,
    multi: true,
    allValue: ".*",
    current: { selected: true, text: ["All"], value: ["$__all"] },
    refresh: 2,
    sort: 1,
  }));
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: spec.tags,
    editable: false,
    schemaVersion: 39,
    timezone: "browser",
    refresh: "30s",
    time: { from: "now-3h", to: "now" },
    templating: {
      list: [
        { name: "datasource", label: "Prometheus", type: "datasource", query: "prometheus", current: {}, hide: 0 },
        ...variables,
      ],
    },
    panels,
  };
}

/** Every PromQL expression of a dashboard, for tests and checks. */
export function dashboardQueries(d: GrafanaDashboard): string[] {
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}
