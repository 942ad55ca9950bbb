/**
 * imctl's exit codes, after sysexits(3) where one fits. docs/troubleshooting.md lists the same table (main.test.ts
 * holds the two together). A command that ran returns its own verdict (0, 1, 99, 130); an error carries its code.
 */
export const EXIT = {
  /** The command did what it was asked and its verdict is good. */
  ok: 0,
  /** Its verdict is bad: a failed check, drill or analysis, an aborted rollout, a failed Pulumi update. */
  failed: 1,
  /** Bad input (EX_USAGE is 64, but 2 is what commander and most CLIs use for usage errors). */
  usage: 2,
  /** EX_UNAVAILABLE: a tool the command needs is missing (the Pulumi CLI or a provider plugin). */
  unavailable: 69,
  /** EX_SOFTWARE: an internal error, a bug or a state imctl did not foresee; IMCTL_DEBUG=1 prints the stack trace. */
  software: 70,
  /** k6's own code for breached thresholds, passed on by imctl loadtest run. */
  thresholds: 99,
  /** 128 + SIGINT: a drill interrupted with Ctrl-C (after restoring the platform). */
  interrupted: 130,
} as const;

/**
 * The three kinds of failure imctl knows. Only `cli/src/index.ts` turns them into output and an exit code.
 * - UserError: the input was wrong (one line naming the field, the value and what is allowed). Exit 2.
 * - ExitError: the command ran and its verdict is a non-zero exit (a failed check, a missing tool). Exit `code`.
 * - InternalError: a bug or an unexpected state of the machine. Exit 70.
 */
export class UserError extends Error {
  override readonly name = "UserError";
  readonly exitCode = EXIT.usage;
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
  readonly exitCode = EXIT.software;
}

/**
 * Messages asserted verbatim by tests that several commands share, or that the targets and lib/ raise (they sit
 * below the commands and never import them). A command's own messages live next to it, in commands/<verb>/messages.ts.
 */
export const MESSAGES = {
  unknownComponent: (name: string, allowed: readonly string[]) =>
    `unknown component "${name}": allowed are ${allowed.join(", ")}`,
  noNodeImages: (stack: string) =>
    `stack ${stack}: kubernetes.image.registry is imctl.local (the embedded cluster's real node's images) and the ` +
    `node has none: run "imctl cluster up --nodes real" (it builds them) or "imctl cluster images"; nothing was changed`,
  noPulumiCli: (operation: string) =>
    `imctl ${operation} needs the Pulumi CLI and found none in .tools/bin or on PATH: build it with ` +
    `"imctl tools install --all" (or install it from https://www.pulumi.com/docs/install/), or run "imctl plan" for ` +
    `the offline plan; nothing was changed`,
  noPulumiPlugin: (operation: string, stack: string, missing: ReadonlyArray<{ name: string; what: string }>) =>
    `imctl ${operation} of stack ${stack} needs the Pulumi provider plugin(s) ` +
    `${missing.map((m) => `pulumi-resource-${m.name} (${m.what})`).join(", ")}, not installed here ` +
    `(.tools/bin, PATH or ~/.pulumi/plugins); this machine cannot download them: run "imctl plan --stack ${stack}" ` +
    `for the offline plan; nothing was changed`,
  confirmPulumi: (operation: string, stack: string) =>
    `${operation} ${operation === "destroy" ? "deletes every resource" : "creates, changes and deletes resources"} ` +
    `of stack ${stack}: pass --yes to confirm (imctl preview shows what up would do)`,
  pulumiFailed: (operation: string, stack: string, error: string) =>
    `pulumi ${operation} of stack ${stack} failed: ${error}`,
  portInUse: (port: number, component: string, field: string) =>
    `port ${port} for ${component} (${field}) is already in use by another process: free it or change ${field} ` +
    `in the stack file`,
  missingTool: (tool: string, path: string) =>
    `tool "${tool}" is not installed (looked for ${path}): run "npx imctl tools install" (or "npm start")`,
  locked: (holder: string) => `another imctl workflow holds the lock on this target: ${holder}`,
  confirmReset: "reset deletes every local data directory (Redis, Kafka, MariaDB, Prometheus): pass --yes to confirm",
  rolloutNothingToUndo: (service: string) =>
    `no earlier release of ${service} to go back to: undo restores the release before the last promotion`,
  stackWithUrl: (stack: string) =>
    `--stack: got ${JSON.stringify(stack)}; a stack is read only with --target local (with an edge URL as --target ` +
    "the URL is the platform): drop --stack, or use --target local",
  unknownGateway: (instance: string, allowed: readonly string[]) =>
    `change.gateways: got "${instance}"; allowed: ${allowed.join(", ")}`,
} as const;
