/**
 * The internal routes of group moves (moves.ts), for `imctl group grow | rebalance | rollback`: each call is one short
 * step, so the caller owns the pace (and the rate limit) of a move.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { parse } from "../../lib/parse.ts";
import { requireInternal } from "../../lib/http.ts";
import {
  currentMove,
  finishMove,
  MAX_SUB_GROUPS,
  planMove,
  rollbackBatch,
  switchBatch,
  type BackfillDeps,
} from "./moves.ts";

const groupId = z.object({ id: z.string().regex(/^[1-9][0-9]{0,18}$/, "a decimal group id") });
const planBody = z.object({ subGroups: z.number().int().min(1).max(MAX_SUB_GROUPS) }).strict();
const batchBody = z.object({ limit: z.number().int().min(1).max(10_000) }).strict();

export function moveRoutes(app: FastifyInstance, d: BackfillDeps & { internalToken: string }): void {
  const guard = { preHandler: requireInternal(d.internalToken) };
  const base = "/internal/v1/groups/:id/move";
  app.get(base, guard, async (req) => ({ move: await currentMove(d.db, parse(groupId, req.params).id) }));
  app.post(base, guard, async (req) =>
    planMove(d.db, parse(groupId, req.params).id, parse(planBody, req.body).subGroups),
  );
  app.post(`${base}/switch`, guard, async (req) =>
    switchBatch(d, parse(groupId, req.params).id, parse(batchBody, req.body).limit),
  );
  app.post(`${base}/finish`, guard, async (req) => finishMove(d.db, parse(groupId, req.params).id));
  app.post(`${base}/rollback`, guard, async (req) =>
    rollbackBatch(d, parse(groupId, req.params).id, parse(batchBody, req.body).limit),
  );
}
