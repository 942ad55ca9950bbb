/** `imctl tools ...`: the tools the toolkit runs on, under .tools/. */
import type { Command } from "commander";
import { examples, lazyActions, outcome, type Sink } from "../command.ts";

export function register(program: Command, sink: Sink): void {
  const act = lazyActions(sink, () => import("./index.ts"));
  const tools = program.command("tools").description("the tools the toolkit runs on, under .tools/");
  const install = tools
    .command("install")
    .description("install or update every tool (the same bootstrap npm start and npm test run)")
    .action(
      act(async (m) => {
        const r = await m.install();
        return outcome(r, m.renderInstall(r));
      }),
    );
  examples(install, ["tools install", "tools install --json"]);
  const status = tools
    .command("status")
    .description("each tool, its version and where it is")
    .action(
      act(async (m) => {
        const r = await m.status();
        return outcome(r, m.renderStatus(r), r.allInstalled ? 0 : 1);
      }),
    );
  examples(status, ["tools status", "tools status --json"]);
}
