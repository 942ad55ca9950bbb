/**
 * A drill's persisted record: `<stateDir>/drills/<id>/drill.json` holds the phase and every transition, each
 * transition also goes to the target's audit log (`<stateDir>/audit.log`, one JSON line per event). A drill
 * whose imctl was killed is found by its pid and restored by the next drill command.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { writeAtomic } from "../../lib/files.ts";
import { pidAlive } from "../../lib/process.ts";
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

export const drillsDir = (stateDir: string) => join(stateDir, "drills");
export const drillDir = (stateDir: string, id: string) => join(drillsDir(stateDir), id);

export function newDrillId(fault: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\..*$/, "").replace("T", "-");
  return `${fault}-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

export class DrillStore {
  constructor(
    private readonly stateDir: string,
    readonly record: DrillRecord,
  ) {}

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
    mkdirSync(s.dir, { recursive: true });
    s.transition("Pending", `${init.kind === "restore" ? "database restore drill" : `fault ${init.fault}`} requested`);
    return s;
  }

  get dir(): string {
    return drillDir(this.stateDir, this.record.id);
  }

  save(): void {
    writeAtomic(join(this.dir, "drill.json"), JSON.stringify(this.record, null, 2));
  }

  transition(phase: DrillPhase, detail: string): void {
    const at = new Date().toISOString();
    this.record.phase = phase;
    this.record.transitions.push({ phase, at, detail });
    this.save();
    appendFileSync(
      join(this.stateDir, "audit.log"),
      `${JSON.stringify({ at, workflow: "drill", id: this.record.id, phase, detail })}\n`,
    );
  }

  writeFile(name: string, content: string): string {
    const file = join(this.dir, name);
    writeFileSync(file, content);
    return file;
  }
}

/** Drills left in a non-terminal phase by an imctl that is gone (killed, machine rebooted). */
export function interruptedDrills(stateDir: string): DrillStore[] {
  const root = drillsDir(stateDir);
  if (!existsSync(root)) return [];
  const out: DrillStore[] = [];
  for (const id of readdirSync(root)) {
    const file = join(root, id, "drill.json");
    if (!existsSync(file)) continue;
    const parsed = recordSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
    if (!parsed.success) continue;
    const r = parsed.data;
    if (!TERMINAL_PHASES.includes(r.phase) && r.pid !== process.pid && !pidAlive(r.pid))
      out.push(new DrillStore(stateDir, r));
  }
  return out;
}
