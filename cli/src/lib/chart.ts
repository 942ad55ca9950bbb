/**
 * Line charts as SVG: the pictures of reports (latency over time, a rollout's weights, a drill's timeline).
 * Pure: data in, SVG text out; any browser or image viewer shows it.
 */
export interface Series {
  name: string;
  /** [x, y] pairs, x ascending. */
  points: Array<[number, number]>;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Horizontal reference lines, e.g. a threshold. */
  rules?: Array<{ y: number; label: string }>;
  /** Vertical markers, e.g. when a fault was injected, detected, recovered. */
  markers?: Array<{ x: number; label: string }>;
  width?: number;
  height?: number;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Round numbers for axis ticks: 1, 2 or 5 times a power of ten. */
export function niceStep(range: number, ticks: number): number {
  const raw = range / Math.max(1, ticks);
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

export function renderLineChart(c: ChartSpec): string {
  const W = c.width ?? 900;
  const H = c.height ?? 420;
  const m = { l: 70, r: 160, t: 40, b: 50 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = c.series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = [...all.map((p) => p[1]), ...(c.rules ?? []).map((r) => r.y)];
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs) : 1;
  const yMax = ys.length ? Math.max(...ys) * 1.1 || 1 : 1;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y: number) => m.t + ph - (y / yMax) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(c.title)}</text>`);
  const yStep = niceStep(yMax, 6);
  for (let y = 0; y <= yMax; y += yStep) {
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${sy(y)}" y2="${sy(y)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.l - 6}" y="${sy(y) + 4}" text-anchor="end">${+y.toFixed(6)}</text>`);
  }
  const xStep = niceStep(x1 - x0, 8);
  for (let x = Math.ceil(x0 / xStep) * xStep; x <= x1; x += xStep) {
    out.push(`<line x1="${sx(x)}" x2="${sx(x)}" y1="${m.t}" y2="${m.t + ph}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${sx(x)}" y="${m.t + ph + 16}" text-anchor="middle">${+x.toFixed(6)}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${m.l + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(c.xLabel)}</text>`);
  out.push(
    `<text x="16" y="${m.t + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${m.t + ph / 2})">${esc(c.yLabel)}</text>`,
  );
  for (const r of c.rules ?? []) {
    out.push(
      `<line x1="${m.l}" x2="${m.l + pw}" y1="${sy(r.y)}" y2="${sy(r.y)}" stroke="#d62728" stroke-dasharray="6 4"/>`,
    );
    out.push(`<text x="${m.l + pw - 6}" y="${sy(r.y) - 5}" text-anchor="end" fill="#d62728">${esc(r.label)}</text>`);
  }
  (c.markers ?? []).forEach((mk, i) => {
    if (mk.x < x0 || mk.x > x1) return;
    out.push(
      `<line x1="${sx(mk.x)}" x2="${sx(mk.x)}" y1="${m.t}" y2="${m.t + ph}" stroke="#555" stroke-dasharray="3 3"/>`,
    );
    // Staggered so markers close together stay readable.
    out.push(`<text x="${sx(mk.x) + 3}" y="${m.t + 12 + (i % 4) * 13}" fill="#555">${esc(mk.label)}</text>`);
  });
  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] ?? "#000";
    if (s.points.length > 0) {
      const d = s.points.map((p, j) => `${j === 0 ? "M" : "L"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8"/>`);
    }
    out.push(`<rect x="${m.l + pw + 10}" y="${m.t + 10 + i * 18}" width="12" height="3" fill="${color}"/>`);
    out.push(`<text x="${m.l + pw + 28}" y="${m.t + 15 + i * 18}">${esc(s.name)}</text>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
