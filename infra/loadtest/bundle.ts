/**
 * A k6 scenario as one self-contained script. k6-operator mounts a script from a ConfigMap, whose keys cannot
 * hold the scenario's `lib/` directory, so each scenario is bundled (k6's own modules stay imports). No Pulumi.
 */
import { join } from "node:path";
import { buildSync } from "esbuild";
import { REPO_ROOT } from "../../base/root.mjs";

export function bundleScenario(file: string): string {
  const r = buildSync({
    entryPoints: [join(REPO_ROOT, "loadtests", file)],
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    external: ["k6", "k6/*"],
    legalComments: "none",
  });
  const out = r.outputFiles[0];
  if (!out) throw new Error(`bundling loadtests/${file} produced nothing`);
  return out.text;
}
