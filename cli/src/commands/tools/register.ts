/** `imctl tools ...`: the tools the toolkit runs on, under .tools/. */
import type { Command } from "commander";
import { examples, lazyActions, outcome, type Sink } from "../command.ts";

export function register(program: Command, sink: Sink): void {
  const act = lazyActions(sink, () => import("./index.ts"));
  const tools = program.command("tools").description("the tools the toolkit runs on, under .tools/");
  const install = tools
    .command("install")
    .description("install or update the local target's tools (as npm start does); --all adds the test-only ones")
    .option("--all", "also the tools only tests need (etcd, Kubernetes, kwok, Pulumi), as npm test does")
    .action(
      act(async (m, opts: { all?: boolean }) => {
        const r = await m.install({ all: opts.all === true });
        return outcome(r, m.renderInstall(r));
      }),
    );
  examples(install, ["tools install", "tools install --all", "tools install --json"]);
  const status = tools
    .command("status")
    .description("each tool, its version, who needs it and where it is; exits 1 when a local tool is missing")
    .action(
      act(async (m) => {
        const r = await m.status();
        return outcome(r, m.renderStatus(r), r.localInstalled ? 0 : 1);
      }),
    );
  examples(status, ["tools status", "tools status --json"]);
}
