/**
 * A drill's persisted record: `<stateDir>/drills/<id>/drill.json` holds the phase and every transition, each
 * transition also goes to the drills' audit log (`<stateDir>/drills/audit.jsonl`, one JSON line per event, in the
 * workflows' common record format: lib/records.ts). A drill whose imctl was killed is found by its pid and
 * restored by the next drill command.
 */
import { z } from "zod";
import { pidAlive } from "../../lib/process.ts";
import { workflowRecords, type WorkflowRecords } from "../../lib/records.ts";
import { DRILL_PHASES, TERMINAL_PHASES, type DrillPhase } from "./model.ts";

const recordSchema = z.object({
  id: z.string(),
  kind: z.enum(["fault", "restore"]),
  fault: z.string(),
  pid: z.number(),
  phase: z.enum(DRILL_PHASES),
  component: z.string().nullable(),
  /** The partition's nftables table lives while this is set; cleared once healed. */
  partition: z.boolean(),
  startedAt: z.string(),
  transitions: z.array(z.object({ phase: z.enum(DRILL_PHASES), at: z.string(), detail: z.string() })),
});
export type DrillRecord = z.infer<typeof recordSchema>;

const records = (stateDir: string) => workflowRecords(stateDir, "drill");
export const drillsDir = (stateDir: string) => records(stateDir).dir;
export const drillDir = (stateDir: string, id: string) => records(stateDir).path(id);

export function newDrillId(fault: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\..*$/, "").replace("T", "-");
  return `${fault}-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

export class DrillStore {
  private readonly records: WorkflowRecords;

  constructor(
    stateDir: string,
    readonly record: DrillRecord,
  ) {
    this.records = records(stateDir);
  }

  static create(stateDir: string, init: Pick<DrillRecord, "id" | "kind" | "fault">): DrillStore {
    const record: DrillRecord = {
      ...init,
      pid: process.pid,
      phase: "Pending",
      component: null,
      partition: false,
      startedAt: new Date().toISOString(),
      transitions: [],
    };
    const s = new DrillStore(stateDir, record);
    s.records.ensureDir(init.id);
    s.transition("Pending", `${init.kind === "restore" ? "database restore drill" : `fault ${init.fault}`} requested`);
    return s;
  }

  get dir(): string {
    return this.records.path(this.record.id);
  }

  save(): void {
    this.records.write([this.record.id, "drill.json"], this.record);
  }

  transition(phase: DrillPhase, detail: string): void {
    const at = new Date().toISOString();
    this.record.phase = phase;
    this.record.transitions.push({ phase, at, detail });
    this.save();
    const { id, kind, fault } = this.record;
    this.records.audit({ subject: id, action: phase, detail, data: { kind, fault } });
  }

  writeFile(name: string, content: string): string {
    return this.records.writeText([this.record.id, name], content);
  }
}

/** Drills left in a non-terminal phase by an imctl that is gone (killed, machine rebooted). */
export function interruptedDrills(stateDir: string): DrillStore[] {
  const store = records(stateDir);
  const out: DrillStore[] = [];
  for (const id of store.list()) {
    if (!store.exists(id, "drill.json")) continue;
    const parsed = recordSchema.safeParse(store.read(id, "drill.json"));
    if (!parsed.success) continue;
    const r = parsed.data;
    if (!TERMINAL_PHASES.includes(r.phase) && r.pid !== process.pid && !pidAlive(r.pid))
      out.push(new DrillStore(stateDir, r));
  }
  return out;
}
