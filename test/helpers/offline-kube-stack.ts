/**
 * The embedded-cluster stack pointed at a kubeconfig whose API server is nowhere (https://127.0.0.1:1), in a temporary
 * directory with its own state directory: for unit tests that open a kubernetes target and must never contact one.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { REPO_ROOT } from "../../base/root.mjs";
import { tempDir } from "./temp-dir.ts";

export interface OfflineKubeStack {
  /** The stack file. */
  stack: string;
  /** A state directory of its own (set IMCTL_STATE_DIR to it). */
  stateDir: string;
}

/** Writes the stack, after `edit` of its parsed content. */
export function offlineKubeStack(edit: (s: Record<string, any>) => void = () => undefined): OfflineKubeStack {
  const dir = tempDir("offline-kube"); // removed when the test process exits
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1" } }],
      users: [{ name: "u", user: { token: "t" } }],
      contexts: [{ name: "imctl-embedded", context: { cluster: "c", user: "u" } }],
      "current-context": "imctl-embedded",
    }),
  );
  const s = parse(readFileSync(join(REPO_ROOT, "stacks", "embedded-cluster.yaml"), "utf8")) as Record<string, any>;
  s.cluster.kubeconfig = kubeconfig;
  edit(s);
  const stack = join(mkdtempSync(join(dir, "s-")), "embedded-cluster.yaml");
  writeFileSync(stack, stringify(s));
  return { stack, stateDir: join(dir, "state") };
}
