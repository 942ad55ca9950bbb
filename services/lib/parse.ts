/** A request body (or query) checked against its schema; the first problem becomes a `bad_request` naming the field. */
import type { z } from "zod";
import { ApiError } from "./errors.ts";

export function parse<T>(schema: z.ZodType<T>, v: unknown): T {
  const r = schema.safeParse(v);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new ApiError("bad_request", `${i?.path.join(".") || "body"}: ${i?.message ?? "invalid"}`);
  }
  return r.data;
}
