import { pino, type Logger } from "pino";

/** Structured JSON logs with the service, version and instance on every line. */
export function createLogger(
  service: string,
  cfg: { SERVICE_VERSION: string; INSTANCE_ID: string; LOG_LEVEL: string },
): Logger {
  return pino({ level: cfg.LOG_LEVEL, base: { service, version: cfg.SERVICE_VERSION, instance: cfg.INSTANCE_ID } });
}
export type { Logger };
