/**
 * The message service's API, called by the gateways on behalf of an authenticated user (x-im-user) with the
 * internal token: send, pull the inbox, pull a group timeline, sync.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { ApiError } from "../../lib/errors.ts";
import { parse } from "../../lib/parse.ts";
import type { Admission } from "../../lib/admission.ts";
import { requireInternal } from "../../lib/http.ts";
import { clientMessageId, conversationRef, MAX_BODY_CHARS } from "../../lib/protocol.ts";
import type { MessageMetrics } from "./metrics.ts";
import { pullGroup, pullInbox, send, sync, type StoreDeps } from "./store.ts";

const sendBody = z
  .object({ cmid: clientMessageId, to: conversationRef, body: z.string().min(1).max(MAX_BODY_CHARS) })
  .strict();
const sendItem = sendBody.extend({ user: z.string().regex(/^[1-9][0-9]{0,18}$/, "a decimal id") });
const batchBody = z.object({ sends: z.array(z.unknown()).min(1).max(500) }).strict();
const pullQuery = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(500).default(200),
});

function user(req: FastifyRequest): string {
  const u = req.headers["x-im-user"];
  if (typeof u !== "string" || !/^[1-9][0-9]{0,18}$/.test(u)) throw new ApiError("unauthorized", "missing x-im-user");
  return u;
}

export function routes(
  app: FastifyInstance,
  d: StoreDeps & {
    metrics: MessageMetrics;
    internalToken: string;
    failRate: number;
    extraLatencyMs: number;
    /** Bounds the sends in progress on this instance (admission.ts); beyond it a send is refused `overloaded`. */
    admission: Admission;
  },
): void {
  const guard = { preHandler: requireInternal(d.internalToken) };
  // Fault knobs for canary tests: a bad version is started with these set, never a production default.
  const faults = async () => {
    if (d.extraLatencyMs > 0) await new Promise((r) => setTimeout(r, d.extraLatencyMs));
    if (d.failRate > 0 && Math.random() < d.failRate)
      throw new ApiError("unavailable", "injected failure (MESSAGE_FAULT_FAIL_RATE)");
  };

  app.post("/internal/v1/messages", guard, async (req) => {
    const from = user(req);
    const b = parse(sendBody, req.body);
    await faults();
    const t0 = performance.now();
    try {
      const r = await d.admission.run(() => send(d, from, b.cmid, b.to, b.body));
      d.metrics.sends.inc({ kind: b.to.kind, result: r.duplicate ? "duplicate" : "stored" });
      d.metrics.storeSeconds.observe({ kind: b.to.kind }, (performance.now() - t0) / 1000);
      return r;
    } catch (err) {
      d.metrics.sends.inc({ kind: b.to.kind, result: err instanceof ApiError ? err.code : "error" });
      throw err;
    }
  });

  // Sends coalesced by a gateway: each is validated, stored and answered on its own (one bad send fails alone).
  app.post("/internal/v1/messages/batch", guard, async (req) => {
    const b = parse(batchBody, req.body);
    const results = await Promise.all(
      b.sends.map(async (item) => {
        const t0 = performance.now();
        const one = sendItem.safeParse(item);
        if (!one.success) {
          const i = one.error.issues[0];
          return {
            ok: false,
            error: "bad_request",
            message: `${i?.path.join(".") || "send"}: ${i?.message ?? "invalid"}`,
          };
        }
        const s = one.data;
        try {
          await faults();
          const r = await d.admission.run(() => send(d, s.user, s.cmid, s.to, s.body));
          d.metrics.sends.inc({ kind: s.to.kind, result: r.duplicate ? "duplicate" : "stored" });
          d.metrics.storeSeconds.observe({ kind: s.to.kind }, (performance.now() - t0) / 1000);
          return { ok: true, result: r };
        } catch (err) {
          const e = err instanceof ApiError ? err : new ApiError("unavailable", "storing the message failed; retry");
          if (!(err instanceof ApiError)) req.log.warn({ err: (err as Error).message }, "send failed");
          d.metrics.sends.inc({ kind: s.to.kind, result: e.code });
          return {
            ok: false,
            error: e.code,
            message: e.message,
            ...(e.retryAfterMs === undefined ? {} : { retryAfterMs: e.retryAfterMs }),
          };
        }
      }),
    );
    return { results };
  });

  app.get("/internal/v1/inbox", guard, async (req) => {
    const q = parse(pullQuery, req.query);
    return pullInbox(d.db, user(req), q.after, q.limit);
  });

  app.get<{ Params: { id: string } }>("/internal/v1/groups/:id/timeline", guard, async (req) => {
    const q = parse(pullQuery, req.query);
    if (!/^[1-9][0-9]{0,18}$/.test(req.params.id)) throw new ApiError("bad_request", "group: a decimal id");
    return pullGroup(d.db, user(req), req.params.id, q.after, q.limit);
  });

  app.get("/internal/v1/sync", guard, async (req) => sync(d.db, user(req)));
}
