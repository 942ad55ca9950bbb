/**
 * Run settings, from the environment k6 passes (`-e NAME=value`, set by `imctl loadtest run`).
 * Every scenario reads them here, so a flag means the same thing in each.
 */
export interface RunConfig {
  /** Base URL of the platform's edge (the nginx tier locally), e.g. http://127.0.0.1:18080. */
  target: string;
  /** The WebSocket URL derived from it. */
  wsUrl: string;
  vus: number;
  /** Messages per second across all VUs (1:1 and fan-out scenarios). */
  rate: number;
  /** Sending window in seconds. */
  durationSeconds: number;
  /** p99 delivery latency bound in ms for the thresholds (the seed: 150). */
  maxP99Ms: number;
  /** Unique per run, so repeated runs register fresh users. */
  runId: string;
  /**
   * Name overrides for k6's resolver (its `hosts` option), from RESOLVE=<name>=<ipv4>[,...]: the edge is then reached
   * by name (the Host header the Gateway's routes match) at a loopback address.
   */
  hosts: Record<string, string>;
  /** Size of each message body in bytes (padded; at least the timestamp itself). BODY_BYTES, default 0: unpadded. */
  bodyBytes: number;
}

function num(name: string, fallback: number): number {
  const raw = __ENV[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}: got ${JSON.stringify(raw)}; allowed: a number above 0`);
  return n;
}

/** "30s", "5m", "1h" or a number of seconds. */
export function parseDuration(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m) throw new Error(`DURATION: got ${JSON.stringify(raw)}; allowed: a number with ms, s, m or h`);
  const n = Number(m[1]);
  switch (m[2]) {
    case "ms":
      return n / 1000;
    case "m":
      return n * 60;
    case "h":
      return n * 3600;
    default:
      return n;
  }
}

export function config(defaults: { vus: number; rate: number; duration: string }): RunConfig {
  const target = (__ENV.TARGET ?? "http://127.0.0.1:18080").replace(/\/$/, "");
  return {
    target,
    wsUrl: `${target.replace(/^http/, "ws")}/ws`,
    vus: Math.round(num("VUS", defaults.vus)),
    rate: num("RATE", defaults.rate),
    durationSeconds: parseDuration(__ENV.DURATION ?? defaults.duration),
    maxP99Ms: num("MAX_P99_MS", 150),
    runId: __ENV.RUN_ID ?? `${Date.now().toString(36)}`,
    hosts: parseResolve(__ENV.RESOLVE ?? ""),
    // The service takes bodies up to 4,000 characters (services/lib/protocol.ts MAX_BODY_CHARS).
    bodyBytes: Math.min(
      4000,
      Math.round(__ENV.BODY_BYTES === undefined || __ENV.BODY_BYTES === "" ? 0 : num("BODY_BYTES", 1)),
    ),
  };
}

/** RESOLVE=<name>=<ipv4>[,<name>=<ipv4>...] as k6's `hosts` option; a malformed entry stops the run. */
export function parseResolve(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of text.split(",").filter((e) => e.trim() !== "")) {
    const m = /^([a-z0-9.-]+)=(\d{1,3}(?:\.\d{1,3}){3})$/.exec(entry.trim());
    if (!m || m[1] === undefined || m[2] === undefined)
      throw new Error(`RESOLVE: got ${JSON.stringify(entry.slice(0, 80))}; allowed: <name>=<ipv4>, comma-separated`);
    out[m[1]] = m[2];
  }
  return out;
}
