/**
 * imctl tools: the tools the toolkit runs on, under .tools/ (base/tools.mjs lists them; base/install.mjs installs
 * them). `install` covers the local profile (what `npm start` installs) or, with --all, the tools only tests need too.
 */
import { installAll } from "../../../../base/install.mjs";
import { TOOLS, toolPath, toolVersion, type Need } from "../../../../base/tools.mjs";
import { table } from "../../lib/table.ts";

export interface ToolStatus {
  name: string;
  /** "local": the local target runs on it; "test": only tests need it. */
  need: Need;
  source: string;
  package: string;
  installed: boolean;
  version: string | null;
  path: string;
  purpose: string;
}

export interface StatusResult {
  tools: ToolStatus[];
  allInstalled: boolean;
  /** Every tool the local target needs is installed: `imctl tools status` exits 0 on that alone. */
  localInstalled: boolean;
}

export async function status(): Promise<StatusResult> {
  const tools = TOOLS.map((t) => {
    const version = toolVersion(t);
    return {
      name: t.name,
      need: t.need,
      source: t.source,
      package: t.package,
      installed: version !== null,
      version,
      path: toolPath(t.name),
      purpose: t.purpose,
    };
  });
  return {
    tools,
    allInstalled: tools.every((t) => t.installed),
    localInstalled: tools.every((t) => t.installed || t.need !== "local"),
  };
}

export interface InstallOptions {
  /**
   * Also install the tools only tests need (etcd, the Kubernetes control plane, kwok, the Pulumi CLI and its kubernetes
   * provider). Default false: the local profile.
   */
  all?: boolean;
}

export async function install(opts: InstallOptions = {}): Promise<ReturnType<typeof installAll>> {
  return installAll({ profile: opts.all ? "all" : "local" });
}

function statusLine(r: StatusResult): string {
  if (r.allInstalled) return "all tools installed";
  if (r.localInstalled)
    return 'the local target\'s tools are installed; test-only tools are missing: run "npx imctl tools install --all"';
  return 'some tools the local target needs are missing: run "npx imctl tools install"';
}

export function renderStatus(r: StatusResult): string {
  const rows = r.tools.map((t) => [
    t.name,
    t.installed ? (t.version ?? "?") : "MISSING",
    t.need,
    t.source,
    t.path,
    t.purpose,
  ]);
  return `${table(["TOOL", "VERSION", "NEED", "FROM", "PATH", "FOR"], rows)}\n\n${statusLine(r)}`;
}

export function renderInstall(r: ReturnType<typeof installAll>): string {
  return `${table(
    ["STEP", "RESULT", "SECONDS"],
    r.steps.map((s) => [s.step, s.result, s.seconds.toFixed(1)]),
  )}\n\n${r.profile} profile done in ${r.seconds.toFixed(1)} s`;
}
