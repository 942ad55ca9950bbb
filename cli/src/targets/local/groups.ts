/**
 * The group capability of the local target: a group's sub-groups as user-center reports them on its internal route
 * (the first instance that answers), with the platform's internal token.
 */
import { ExitError } from "../../errors.ts";
import { GroupMoveRefusal, type GroupMoveStep } from "../target.ts";
import type { LocalContext } from "./context.ts";
import { serviceInstances } from "./components/services.ts";

/** The group's status as user-center returned it, or null when the group does not exist. */
export async function groupStatus(ctx: LocalContext, groupId: string): Promise<unknown> {
  const instances = serviceInstances(ctx).filter((i) => i.service === "user-center");
  const failures: string[] = [];
  for (const i of instances) {
    try {
      const res = await fetch(`http://${ctx.host}:${i.port}/internal/v1/groups/${groupId}/sub-groups`, {
        headers: { "x-im-internal": ctx.secrets.internalToken },
        signal: AbortSignal.timeout(10_000),
      });
      if (res.status === 404) return null;
      if (res.ok) return (await res.json()) as unknown;
      failures.push(`${i.id}: HTTP ${res.status}`);
    } catch (err) {
      failures.push(`${i.id}: ${(err as Error).message}`);
    }
  }
  throw new ExitError(
    `group status: no user-center instance answered (${failures.join("; ")}); is the platform up? (imctl local status)`,
    1,
  );
}

const MOVE_PATH: Record<Exclude<GroupMoveStep, "get" | "plan">, string> = {
  switch: "/switch",
  finish: "/finish",
  rollback: "/rollback",
};

/** One step of a group move, on the first message instance that answers (moves.ts in the message service). */
export async function groupMove(
  ctx: LocalContext,
  groupId: string,
  step: GroupMoveStep,
  body?: Record<string, unknown>,
): Promise<unknown> {
  const instances = serviceInstances(ctx).filter((i) => i.service === "message");
  const path = `/internal/v1/groups/${groupId}/move${step === "get" || step === "plan" ? "" : MOVE_PATH[step]}`;
  const failures: string[] = [];
  for (const i of instances) {
    let res: Response;
    try {
      res = await fetch(`http://${ctx.host}:${i.port}${path}`, {
        method: step === "get" ? "GET" : "POST",
        headers: { "x-im-internal": ctx.secrets.internalToken, "content-type": "application/json" },
        ...(step === "get" ? {} : { body: JSON.stringify(body ?? {}) }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      failures.push(`${i.id}: ${(err as Error).message}`);
      continue;
    }
    const data = (await res.json().catch(() => ({}))) as { error?: unknown; message?: unknown };
    if (res.ok) return data;
    if (res.status >= 500 && res.status !== 503) {
      failures.push(`${i.id}: HTTP ${res.status}`);
      continue;
    }
    throw new GroupMoveRefusal(String(data.error ?? res.status), String(data.message ?? ""), res.status);
  }
  throw new ExitError(
    `group ${step}: no message instance answered (${failures.join("; ")}); is the platform up? (imctl local status)`,
    1,
  );
}
