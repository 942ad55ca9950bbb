/**
 * Fault knobs for canary tests: a bad gateway version is started with GATEWAY_FAULT_LATENCY_MS or
 * GATEWAY_FAULT_FAIL_RATE set (never a production default), so `imctl rollout` can be shown to abort it.
 * Only sends are affected: pulls keep working, so clients on a bad canary still receive what they are owed.
 */
import { ApiError } from "../../lib/errors.ts";
import { MessageUpstream, type MessageCanary } from "./upstream.ts";

export interface SendFaults {
  latencyMs: number;
  failRate: number;
}

export class FaultyUpstream extends MessageUpstream {
  constructor(
    urls: string[],
    internalToken: string,
    private readonly faults: SendFaults,
    canary?: MessageCanary,
    sendIntervalMs?: number,
  ) {
    super(urls, internalToken, canary, sendIntervalMs);
  }

  override async call<T>(userId: string, method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    if (method === "POST" && path === "/internal/v1/messages") {
      if (this.faults.latencyMs > 0) await new Promise((r) => setTimeout(r, this.faults.latencyMs));
      if (this.faults.failRate > 0 && Math.random() < this.faults.failRate)
        throw new ApiError("unavailable", "injected failure (GATEWAY_FAULT_FAIL_RATE)");
    }
    return super.call<T>(userId, method, path, body);
  }
}
