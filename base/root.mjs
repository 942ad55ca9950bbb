// The repository root, for every part that reads files of the checkout (infra, services' tests, the CLI, scripts).
// Plain Node with no dependencies: scripts/bootstrap.mjs needs it before node_modules exists.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (everything here runs from a checkout of this repository). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
