/**
 * What a target cannot do, as the factory (open.ts) says it: one line naming the field, the value and what is
 * allowed. Asserted verbatim by tests; the drill's and doctor's MESSAGES carry their own entries from here.
 */
export const TARGET_MESSAGES = {
  badTarget: (got: string) => `--target: got ${JSON.stringify(got)}; allowed: local, kubernetes`,
  kubernetesLifecycle: (stack: string) =>
    `--stack: got ${JSON.stringify(stack)}, a kubernetes stack; imctl local runs the local target only ` +
    "(a kubernetes platform is brought up with imctl up)",
  faultNotOnTarget: (fault: string, kind: string, allowed: readonly string[]) =>
    `fault ${fault}: the ${kind} target cannot inject it` +
    (kind === "kubernetes" ? " (the data tier is outside the cluster)" : "") +
    `; allowed on ${kind}: ${allowed.join(", ")}`,
  flagNotOnTarget: (flag: string, kind: string) =>
    kind === "local"
      ? `${flag}: the local target's partition cuts one component off (allowed: --instance, e.g. redis-1)`
      : `${flag}: a partition on kubernetes is between two services (allowed: --from and --to, e.g. --from gateway --to message)`,
  drillRestoreKubernetes:
    "drill restore: the database restore drill runs on the local target only for now; on kubernetes the database " +
    "is a managed service outside the cluster: rehearse its restore with the provider's point-in-time restore " +
    "(runbooks/backup-restore.md), or run imctl drill restore --stack local",
  stateDirNotDirectory: (dir: string, fromEnv: boolean) =>
    `${fromEnv ? "IMCTL_STATE_DIR" : "state directory"}: got ${JSON.stringify(dir)}, which is not a directory; ` +
    "allowed: a directory imctl keeps the local platform's state in (a missing one is created by imctl local up)",
  stateDirForeign: (dir: string, fromEnv: boolean) =>
    `${fromEnv ? "IMCTL_STATE_DIR" : "state directory"}: got ${JSON.stringify(dir)}, which holds no imctl state ` +
    "(no state.json): no platform was brought up with it; allowed: the state directory of a platform, or a new " +
    "or empty directory for imctl local up",
  stateFileBroken: (file: string) =>
    `${file}: not imctl state (not a JSON object); allowed: the file imctl local up writes (remove it ` +
    "to start over; the platform's processes are then no longer tracked)",
  stackNotRecorded: (given: string, recorded: string) =>
    `--stack: got ${JSON.stringify(given)}; the platform on this target was brought up from ${JSON.stringify(recorded)} ` +
    "and status, logs, down, doctor, drill and bandwidth work on that one (allowed: that file, or no --stack)",
} as const;
