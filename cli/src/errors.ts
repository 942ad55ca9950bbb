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
