/**
 * The group capability of the local target: a group's sub-groups as user-center reports them on its internal route
 * (the first instance that answers), with the platform's internal token.
 */
import { ExitError } from "../../errors.ts";
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
