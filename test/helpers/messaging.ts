/**
 * Shared pieces of the messaging tests: clients that record what they receive, and a bounded wait.
 */
import { ImClient } from "../../services/lib/client/index.ts";
import type { WireMessage } from "../../services/lib/protocol.ts";

export interface Recorder {
  client: ImClient;
  userId: string;
  received: WireMessage[];
  anomalies: string[];
  /** `gview` pushes (the user's place in a group changed), in arrival order. */
  views: Array<{ group: string; reason: string }>;
}

export function recorder(
  wsUrl: string,
  user: { userId: string; token: string },
  opts: { syncIntervalMs?: number } = {},
): Recorder {
  const client = new ImClient({ url: wsUrl, token: user.token, syncIntervalMs: opts.syncIntervalMs ?? 2000 });
  const r: Recorder = { client, userId: user.userId, received: [], anomalies: [], views: [] };
  client.on("message", (m) => r.received.push(m));
  client.on("groupView", (group, reason) => r.views.push({ group, reason }));
  client.on("anomaly", (a) => r.anomalies.push(a));
  return r;
}

/** Polls until `done()` or fails after `timeoutMs` with `describe()` in the message. */
export async function eventually(
  what: string,
  done: () => boolean,
  timeoutMs: number,
  describe: () => string = () => "",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs / 1000} s waiting for ${what}${describe() ? `: ${describe()}` : ""}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}
