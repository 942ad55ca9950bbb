/**
 * imctl group: the sub-groups of a large group (docs/groups.md). `status` reads them through the target's group
 * capability (user-center's internal route: at an instance's port locally, through the API server's service proxy on
 * kubernetes) and returns data; renderStatus turns it into text.
 */
import { z } from "zod";
import { InternalError, UserError } from "../../errors.ts";
import { table } from "../../lib/table.ts";
import { openTarget } from "../../targets/open.ts";
import type { GroupTarget } from "../../targets/target.ts";
import { GROUP_MESSAGES } from "./messages.ts";

const state = z.enum(["ok", "warn", "over"]);
const count = z.number().int().min(0);

/** What user-center reports for one group (services/user-center/src/sub-groups.ts), checked before use. */
export const groupStatusReport = z.object({
  groupId: z.string(),
  name: z.string(),
  memberCount: count,
  diffusion: z.string(),
  headSeq: count,
  subGroupCount: z.number().int().min(1),
  capacity: z.number().int().min(1),
  warnRatio: z.number(),
  maxSubGroups: z.number().int().min(1),
  neededSubGroups: z.number().int().min(1),
  state,
  subGroups: z.array(
    z.object({
      subGroup: count,
      members: count,
      state,
      fanoutSeq: count,
      behind: count,
      pendingMoves: count,
    }),
  ),
  /** The open move (state "dual"), else the last one; absent from a user-center older than the moves. */
  move: z
    .object({
      moveId: z.string(),
      state: z.string(),
      fromSubGroups: z.number().int().min(1),
      toSubGroups: z.number().int().min(1),
      planHead: count,
      moving: count,
      switched: count,
      /** "operator" (imctl) or "auto" (the platform's automatic trigger); absent before automatic growth. */
      startedBy: z.enum(["operator", "auto"]).optional(),
      rollbackBy: z.enum(["operator", "auto"]).nullable().optional(),
    })
    .nullable()
    .optional(),
});

export type GroupStatusResult = z.infer<typeof groupStatusReport>;

const GROUP_ID = /^[1-9][0-9]{0,18}$/;

export async function status(id: string, opts: { stack?: string }): Promise<GroupStatusResult> {
  checkGroupId(id);
  return readStatus(await openTarget({ stack: opts.stack }).groups(), id);
}

export function checkGroupId(id: string): void {
  if (!GROUP_ID.test(id)) throw new UserError(GROUP_MESSAGES.badGroupId(id));
}

/** The group's status from the target, checked; a UserError when there is no such group. */
export async function readStatus(target: Pick<GroupTarget, "groupStatus">, id: string): Promise<GroupStatusResult> {
  const raw = await target.groupStatus(id);
  if (raw === null) throw new UserError(GROUP_MESSAGES.unknownGroup(id));
  const r = groupStatusReport.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new InternalError(GROUP_MESSAGES.badReply(`${i?.path.join(".") ?? ""}: ${i?.message ?? "invalid"}`));
  }
  return r.data;
}

function moveState(m: NonNullable<GroupStatusResult["move"]>): string {
  if (m.state !== "dual") return m.state.replace("_", " ");
  return m.rollbackBy ? `rolling back (asked by ${m.rollbackBy})` : "in progress, dual write";
}

export function renderStatus(r: GroupStatusResult): string {
  const pending = r.subGroups.reduce((n, s) => n + s.pendingMoves, 0);
  const warnAt = Math.floor(r.capacity * r.warnRatio);
  return [
    `group ${r.groupId} (${r.name}): ${r.memberCount} members, ${r.diffusion} diffusion, head seq ${r.headSeq}`,
    `sub-groups: ${r.subGroupCount} (needed ${r.neededSubGroups}, at most ${r.maxSubGroups}); capacity ` +
      `${r.capacity} members each, warn past ${warnAt}; state ${r.state}`,
    "",
    table(
      ["SUB-GROUP", "MEMBERS", "FILL", "STATE", "FAN-OUT SEQ", "BEHIND", "PENDING MOVES"],
      r.subGroups.map((s) => [
        String(s.subGroup),
        String(s.members),
        `${Math.round((100 * s.members) / r.capacity)} %`,
        s.state,
        String(s.fanoutSeq),
        String(s.behind),
        String(s.pendingMoves),
      ]),
    ),
    ...(pending > 0
      ? ["", `${pending} members are not in their hash placement yet: a rebalance of the group moves them`]
      : []),
    ...(r.move
      ? [
          "",
          `move ${r.move.moveId} (${r.move.fromSubGroups} -> ${r.move.toSubGroups} sub-groups, started by ` +
            `${r.move.startedBy ?? "operator"}): ${moveState(r.move)}; ` +
            `${r.move.switched} of ${r.move.moving} moving members switched`,
        ]
      : []),
  ].join("\n");
}
