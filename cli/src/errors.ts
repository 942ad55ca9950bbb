/**
 * The three kinds of failure imctl knows. Only `cli/src/index.ts` turns them into output and an exit code.
 * - UserError: the input was wrong (one line naming the field, the value and what is allowed). Exit 2.
 * - ExitError: the command ran and its verdict is a non-zero exit (a failed check, a missing tool). Exit `code`.
 * - InternalError: a bug or an unexpected state of the machine. Exit 70.
 */
export class UserError extends Error {
  override readonly name = "UserError";
  readonly exitCode = 2;
}

export class ExitError extends Error {
  override readonly name = "ExitError";
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export class InternalError extends Error {
  override readonly name = "InternalError";
  readonly exitCode = 70;
}

/** Messages asserted verbatim by tests live here, next to the errors that carry them. */
export const MESSAGES = {
  unknownComponent: (name: string, allowed: readonly string[]) =>
    `unknown component "${name}": allowed are ${allowed.join(", ")}`,
  noPulumiCli: (operation: string) =>
    `imctl ${operation} needs the Pulumi CLI and no "pulumi" is on PATH: install it (https://www.pulumi.com/docs/install/) or run "imctl plan" for the offline plan; nothing was changed`,
  confirmUp: (stack: string) =>
    `up creates, changes and deletes cloud resources of stack ${stack}: pass --yes to confirm (imctl preview shows what it would do)`,
  stackOutsideStacks: (file: string, name: string) =>
    `--stack: got ${JSON.stringify(file)}; the Pulumi program reads stacks/<stack>.yaml by the stack's name: allowed: a stack under stacks/ (here ${JSON.stringify(name)})`,
  pulumiFailed: (operation: string, stack: string, error: string) =>
    `pulumi ${operation} of stack ${stack} failed: ${error}`,
  portInUse: (port: number, component: string, field: string) =>
    `port ${port} for ${component} (${field}) is already in use by another process: free it or change ${field} in the stack file`,
  missingTool: (tool: string, path: string) =>
    `tool "${tool}" is not installed (looked for ${path}): run "npx imctl tools install" (or "npm start")`,
  locked: (holder: string) => `another imctl workflow holds the lock on this target: ${holder}`,
  confirmReset: "reset deletes every local data directory (Redis, Kafka, MariaDB, Prometheus): pass --yes to confirm",
  unknownService: (name: string) => `unknown service "${name}": allowed are gateway, message, user-center`,
  rolloutInProgress: (service: string, phase: string, step: string, version: string) =>
    `a rollout of ${service} is already in progress (${phase}, step ${step}, version ${version}): promote, abort or resume it first (imctl rollout status ${service})`,
  rolloutNone: (service: string) =>
    `no rollout of ${service} is in progress: start one with "imctl rollout start ${service} --version <v>"`,
  rolloutVersion: (value: string) =>
    `--version: got ${JSON.stringify(value)}; allowed: an image tag of letters, digits, '.', '_' and '-' (at most 128, starting with a letter or digit)`,
  rolloutSameVersion: (service: string, version: string) =>
    `--version: got ${JSON.stringify(version)}; it is already the stable version of ${service}: allowed: a different version`,
  rolloutEnv: (value: string) => `--env: got ${JSON.stringify(value)}; allowed: NAME=value with an upper-case NAME`,
  rolloutRefused: (action: string, service: string, why: string) =>
    `cannot ${action} the rollout of ${service}: ${why}`,
  rolloutControllerRunning: (service: string, pid: number, since: string) =>
    `the rollout of ${service} is being run by imctl pid ${pid} (since ${since}): use promote, pause or abort from here, or stop that process first`,
  strategyWeight: (source: string, path: string, value: unknown) =>
    `${source}: ${path}.setWeight: got ${JSON.stringify(value)}; allowed: a whole number from 0 to 100`,
  strategyNever100: (source: string, last: number | undefined) =>
    `${source}: steps: the last setWeight is ${last ?? "missing"}; allowed: steps whose last setWeight is 100 (a rollout must reach 100 %)`,
  strategyStep: (source: string, path: string, value: unknown) =>
    `${source}: ${path}: got ${JSON.stringify(value)}; allowed: one of setWeight, pause, analysis`,
  rolloutNothingToUndo: (service: string) =>
    `no earlier release of ${service} to go back to: undo restores the release before the last promotion`,
  doctorKubernetes: (stack: string) =>
    `--stack: got ${JSON.stringify(stack)}, a kubernetes stack; imctl doctor checks the local target only for now (on kubernetes, run the checks of runbooks/README.md with kubectl and Grafana)`,
  confirmDrill: (fault: string) => `drill run ${fault} injects a real fault into the platform: pass --yes to confirm`,
  confirmRestoreDrill:
    "drill restore destroys the platform's database and restores it from a fresh backup: pass --yes to confirm",
  drillUnhealthy: (what: string, detail: string) =>
    `steady state not met, no fault injected: ${what} is unhealthy (${detail}); repair it first (imctl local up)`,
  drillKubernetes: '--target: got "kubernetes"; drills run on the local target only for now (allowed: local)',
  badPlanField: (file: string, field: string, value: string, allowed: string) =>
    `plan ${file}: ${field}: got ${value}; allowed: ${allowed}`,
  planMissing: (file: string) => `--plan: cannot read ${file}; allowed: a plan file written by "imctl bandwidth plan"`,
  confirmUpgrade: "bandwidth upgrade changes the live gateways' capacity: pass --yes to confirm",
  confirmRollback:
    "bandwidth rollback restores the gateways' capacity from the last upgrade's backup: pass --yes to confirm",
  staleCap: (instance: string, now: number, planned: number) =>
    `change.gateways: ${instance} has a cap of ${now} B/s now, the plan was made for ${planned} B/s; allowed: a plan made against the current caps (run imctl bandwidth plan again)`,
  unknownGateway: (instance: string, allowed: readonly string[]) =>
    `change.gateways: got "${instance}"; allowed: ${allowed.join(", ")}`,
  interruptedUpgrade: (id: string) =>
    `bandwidth upgrade ${id} was interrupted: continue it with "imctl bandwidth upgrade --resume --yes" or undo it with "imctl bandwidth rollback --yes"`,
  noUpgrade: "no bandwidth upgrade to act on on this target (imctl bandwidth upgrade --plan <file> --yes starts one)",
  noBackup: (id: string) =>
    `bandwidth upgrade ${id} has no backup to restore (it stopped before its backup step): nothing changed`,
  pulumiMissing: (change: string) =>
    `the pulumi CLI is not on PATH: nothing changed. Apply "${change}" with "pulumi up" where the CLI and credentials are, or install the CLI and run this again`,
  optionNotApplicable: (option: string, target: string, reason: string) =>
    `change.option: got "${option}"; not applicable on the ${target} target yet: ${reason}`,
} as const;
