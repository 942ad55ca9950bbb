/** PromQL building blocks shared by the platform's dashboards, each scoped to a tenant or to the whole platform. */
/** Label matchers added to every selector of a dashboard: none for the overview, the tenant's for a tenant. */
export type Scope = string[];

/** `metric{matchers, scope}`, or the bare metric when there are none. */
export function sel(metric: string, scope: Scope, ...matchers: string[]): string {
  const all = [...matchers, ...scope];
  return all.length ? `${metric}{${all.join(", ")}}` : metric;
}

/** The p99 of a histogram over 5 minutes, optionally by a label. */
export const p99 = (metric: string, scope: Scope, by = "", ...m: string[]) =>
  `histogram_quantile(0.99, sum by (le${by ? `, ${by}` : ""}) (rate(${sel(`${metric}_bucket`, scope, ...m)}[5m])))`;
/** Quantile `q` of a histogram over 5 minutes. */
export const quantile = (q: number, metric: string, scope: Scope) =>
  `histogram_quantile(${q}, sum by (le) (rate(${sel(`${metric}_bucket`, scope)}[5m])))`;
