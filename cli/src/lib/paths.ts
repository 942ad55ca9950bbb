import { join } from "node:path";
import { REPO_ROOT } from "../../../base/root.mjs";

/** Default stack file for a stack name. */
export function stackFile(name: string): string {
  return join(REPO_ROOT, "stacks", `${name}.yaml`);
}

/** Where the local target keeps state, pids, data and logs. IMCTL_STATE_DIR overrides it (tests use their own). */
export function stateDir(): string {
  return process.env.IMCTL_STATE_DIR ?? join(REPO_ROOT, ".imctl");
}
