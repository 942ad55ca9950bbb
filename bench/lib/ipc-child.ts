/**
 * A benchmark's helper process and its IPC: send a command, wait (bounded) for the report of a given type.
 * Subclasses handle their progress reports in `onReport`. Also the one way to stop any child process here.
 */
import { fork, type ChildProcess } from "node:child_process";
import { REPO_ROOT } from "../../base/root.mjs";

export type Reply<R extends { t: string }, T extends R["t"]> = Extract<R, { t: T }>;

/**
 * A helper process's report to its benchmark: dropped once the benchmark is gone (its IPC channel closed), where a
 * plain process.send would crash the helper with ERR_IPC_CHANNEL_CLOSED while it shuts down.
 */
export function toParent(m: object): void {
  if (process.connected) process.send?.(m);
}

/** Stops a child: `ask` (SIGTERM by default), then SIGKILL after 5 s. */
export async function stopChild(child: ChildProcess, ask: () => void = () => child.kill("SIGTERM")): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  ask();
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

export abstract class IpcChild<C extends object, R extends { t: string }> {
  readonly proc: ChildProcess;
  /** The process's open-file limit, once it reported ready. */
  fdLimit: number | null = null;
  private waiters: Array<{ t: R["t"]; resolve: (r: R) => void; reject: (e: Error) => void }> = [];
  private exit: Error | null = null;

  constructor(
    script: string,
    readonly label: string,
  ) {
    this.proc = fork(script, [], {
      cwd: REPO_ROOT,
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.proc.on("message", (m: R) => {
      if (m.t === "ready" && "fdLimit" in m) this.fdLimit = m.fdLimit as number | null;
      if (this.onReport(m)) return;
      const i = this.waiters.findIndex((w) => w.t === m.t);
      if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(m);
    });
    this.proc.on("exit", (code, signal) => {
      this.exit = new Error(`${label} exited (${code ?? signal})`);
      this.failAll(this.exit);
    });
  }

  /** Handles a report before any waiter sees it; returns true when it was consumed (e.g. progress). */
  protected abstract onReport(m: R): boolean;

  protected failAll(err: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  /** Sends `cmd` (if any) and waits for the report `t`, at most `timeoutMs`. */
  request<T extends R["t"]>(cmd: C | null, t: T, timeoutMs: number): Promise<Reply<R, T>> {
    if (this.exit) return Promise.reject(this.exit);
    return new Promise<Reply<R, T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.label}: no "${t}" report within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const waiter = {
        t,
        resolve: (r: R) => {
          clearTimeout(timer);
          resolve(r as Reply<R, T>);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(waiter);
      if (cmd && this.proc.connected) this.proc.send(cmd);
    });
  }

  /** Disconnects (the child exits when its IPC channel closes), SIGKILL after 5 s. */
  stop(): Promise<void> {
    return stopChild(this.proc, () => {
      if (this.proc.connected) this.proc.disconnect();
    });
  }
}
