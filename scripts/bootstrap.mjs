#!/usr/bin/env node
// Entry point of the installer (base/install.mjs): `node scripts/bootstrap.mjs` installs what the local target runs
// on (npm start); `--all` adds the tools only tests need (npm test). Not a library: import base/ instead.
import { StepError, installAll } from "../base/install.mjs";
import { toolsDir } from "../base/tools.mjs";

const profile = process.argv.includes("--all") ? "all" : "local";
try {
  const { seconds } = installAll({ profile });
  const later = profile === "local" ? "; test-only tools are installed by npm test or imctl tools install --all" : "";
  process.stderr.write(
    `[bootstrap] ${profile} profile done in ${seconds.toFixed(1)} s; tools in ${toolsDir()}${later}\n`,
  );
} catch (err) {
  process.stderr.write(`${err instanceof StepError ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
