/**
 * One store for the workflows' records (rollout, drill, bandwidth): each workflow has its own directory under the
 * state directory (`rollouts/`, `drills/`, `bandwidth/`) holding its record files, written atomically so a reader
 * (status, the next command, a test) sees the old content or the new one, and one append-only audit log
 * (`audit.jsonl`) whose lines all have the same fields: time, workflow, subject, action, actor, detail, data.
 * Which workflow may run is not decided here: the target's lock (lib/lock.ts) keeps two workflows on one target
 * from running at once.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { writeAtomic } from "./files.ts";

export type Workflow = "rollout" | "drill" | "bandwidth" | "group";

/** Each workflow's directory under the state directory (the names runbooks and tests already use). */
export const WORKFLOW_DIRS: Readonly<Record<Workflow, string>> = {
  rollout: "rollouts",
  drill: "drills",
  bandwidth: "bandwidth",
  group: "group-moves",
};

/** One line of a workflow's audit log. */
export interface AuditRecord {
  time: string;
  workflow: Workflow;
  /** What the line is about: a service (rollout), a drill id, an upgrade or plan id. */
  subject: string;
  /** What happened: a phase entered, an operator's intent, a step run. */
  action: string;
  /** `$USER/pid` of the imctl that did it. */
  actor: string;
  /** Why, or the outcome, in words. */
  detail: string;
  /** The workflow's own figures (a rollout's step and weight, a bandwidth step's outcome). */
  data: Record<string, unknown>;
}

export type AuditInput = Pick<AuditRecord, "subject" | "action"> &
  Partial<Pick<AuditRecord, "actor" | "detail" | "data">>;

/** `$USER/pid`: who did it, for the audit log. */
export function actor(): string {
  let user = process.env.USER ?? "";
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = "unknown";
    }
  }
  return `${user}/${process.pid}`;
}

export class WorkflowRecords {
  constructor(
    readonly stateDir: string,
    readonly workflow: Workflow,
  ) {}

  /** The workflow's directory; nothing is created until a record is written. */
  get dir(): string {
    return join(this.stateDir, WORKFLOW_DIRS[this.workflow]);
  }

  get auditFile(): string {
    return this.path("audit.jsonl");
  }

  /** A path inside the workflow's directory, e.g. `path("history", "x.json")`. */
  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** Creates (if needed) and returns a directory inside the workflow's directory. */
  ensureDir(...parts: string[]): string {
    const d = this.path(...parts);
    mkdirSync(d, { recursive: true });
    return d;
  }

  exists(...parts: string[]): boolean {
    return existsSync(this.path(...parts));
  }

  /** A record as stored (the caller checks its shape), or undefined when there is none. */
  read(...parts: string[]): unknown {
    const f = this.path(...parts);
    return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as unknown) : undefined;
  }

  /** Writes a record atomically, as indented JSON; returns its path. */
  write(parts: string | string[], value: unknown): string {
    const f = this.path(...(typeof parts === "string" ? [parts] : parts));
    writeAtomic(f, `${JSON.stringify(value, null, 2)}\n`);
    return f;
  }

  /** Writes a report file (a picture, a summary) that no workflow reads back; returns its path. */
  writeText(parts: string | string[], text: string): string {
    const f = this.path(...(typeof parts === "string" ? [parts] : parts));
    writeFileSync(f, text);
    return f;
  }

  remove(...parts: string[]): void {
    rmSync(this.path(...parts), { force: true });
  }

  /** Names of the entries of a directory inside the workflow's directory, sorted; [] when it does not exist. */
  list(...parts: string[]): string[] {
    const d = this.path(...parts);
    return existsSync(d) ? readdirSync(d).sort() : [];
  }

  audit(input: AuditInput): AuditRecord {
    const rec: AuditRecord = {
      time: new Date().toISOString(),
      workflow: this.workflow,
      subject: input.subject,
      action: input.action,
      actor: input.actor ?? actor(),
      detail: input.detail ?? "",
      data: input.data ?? {},
    };
    mkdirSync(this.dir, { recursive: true });
    // One write per line with O_APPEND: concurrent writers (a controller and an operator's abort) never interleave.
    appendFileSync(this.auditFile, `${JSON.stringify(rec)}\n`);
    return rec;
  }

  /** The audit log, oldest first; lines that are not records (hand edits) are skipped. */
  readAudit(subject?: string): AuditRecord[] {
    const f = this.auditFile;
    if (!existsSync(f)) return [];
    return readFileSync(f, "utf8")
      .split("\n")
      .filter(Boolean)
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as AuditRecord];
        } catch {
          return [];
        }
      })
      .filter((r) => r.workflow === this.workflow && (subject === undefined || r.subject === subject));
  }
}

/** The records of one workflow on the target whose state lives in `stateDir`. */
export function workflowRecords(stateDir: string, workflow: Workflow): WorkflowRecords {
  return new WorkflowRecords(stateDir, workflow);
}
