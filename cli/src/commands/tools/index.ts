import { installAll, TOOLS, toolPath, toolVersion } from "../../../../scripts/bootstrap.mjs";
import { table } from "../../lib/table.ts";

export interface ToolStatus {
  name: string;
  source: string;
  package: string;
  installed: boolean;
  version: string | null;
  path: string;
  purpose: string;
}

export async function status(): Promise<{ tools: ToolStatus[]; allInstalled: boolean }> {
  const tools = TOOLS.map((t) => {
    const version = toolVersion(t);
    return {
      name: t.name,
      source: t.source,
      package: t.package,
      installed: version !== null,
      version,
      path: toolPath(t.name),
      purpose: t.purpose,
    };
  });
  return { tools, allInstalled: tools.every((t) => t.installed) };
}

export async function install(): Promise<ReturnType<typeof installAll>> {
  return installAll();
}

export function renderStatus(r: { tools: ToolStatus[]; allInstalled: boolean }): string {
  const rows = r.tools.map((t) => [t.name, t.installed ? (t.version ?? "?") : "MISSING", t.source, t.path, t.purpose]);
  return `${table(["TOOL", "VERSION", "FROM", "PATH", "FOR"], rows)}\n\n${r.allInstalled ? "all tools installed" : 'some tools are missing: run "npx imctl tools install"'}`;
}

export function renderInstall(r: ReturnType<typeof installAll>): string {
  return `${table(
    ["STEP", "RESULT", "SECONDS"],
    r.steps.map((s) => [s.step, s.result, s.seconds.toFixed(1)]),
  )}\n\ndone in ${r.seconds.toFixed(1)} s`;
}
