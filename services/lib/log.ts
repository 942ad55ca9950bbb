import { pino, type DestinationStream, type Logger } from "pino";

export const REDACTED = "[redacted]";

/**
 * What looks like a credential in a log line: a session token (`v1.<kid>.<payload>.<signature>`, see tokens.ts),
 * the token subprotocol, a bearer credential, a `token=` query parameter. Matched on the finished line, so a token
 * inside an error message, a URL or a stack trace is caught as well as one in a field.
 */
const CREDENTIALS: Array<[RegExp, string]> = [
  [/\bv1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}/g, REDACTED],
  [/\bim\.token\.[^\s",\\]+/g, `im.token.${REDACTED}`],
  [/\b(Bearer\s+)[^\s",\\]+/gi, `$1${REDACTED}`],
  [/([?&](?:token|access_token)=)[^&\s"\\]+/gi, `$1${REDACTED}`],
];

/** `line` with every credential-looking string replaced by [redacted]. */
export function redactCredentials(line: string): string {
  let out = line;
  for (const [re, by] of CREDENTIALS) out = out.replace(re, by);
  return out;
}

/** Fields that hold a credential whatever it looks like (the internal token is random hex, not a session token). */
const REDACT_PATHS = [
  "token",
  "*.token",
  "internalToken",
  "*.internalToken",
  "authorization",
  "*.authorization",
  "req.headers.authorization",
  'req.headers["sec-websocket-protocol"]',
  'req.headers["x-im-internal"]',
  'headers["x-im-internal"]',
];

/** A destination that scrubs each finished line before it reaches `out` (stdout by default). */
export function redactingStream(out: { write(s: string): unknown } = process.stdout): DestinationStream {
  return { write: (line: string) => void out.write(redactCredentials(line)) };
}

/**
 * Structured JSON logs with the service, version and instance on every line. Credentials never reach the log:
 * known fields are censored by path and every line is scrubbed of token-like strings.
 */
export function createLogger(
  service: string,
  cfg: { SERVICE_VERSION: string; INSTANCE_ID: string; LOG_LEVEL: string },
  destination: DestinationStream = redactingStream(),
): Logger {
  return pino(
    {
      level: cfg.LOG_LEVEL,
      base: { service, version: cfg.SERVICE_VERSION, instance: cfg.INSTANCE_ID },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
    },
    destination,
  );
}
export type { Logger };
