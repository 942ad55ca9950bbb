/**
 * The command table: a registry of the verbs. Each command folder declares its own commands, options, help and
 * examples in its register.ts and imports its handler lazily, so `imctl --help` stays fast; each handler returns
 * data, and the entry point (index.ts) prints it as text or JSON and sets the exit code.
 */
import { Command } from "commander";
import type { Sink } from "./commands/command.ts";
import { register as bandwidth } from "./commands/bandwidth/register.ts";
import { register as cluster } from "./commands/cluster/register.ts";
import { register as destroy } from "./commands/destroy/register.ts";
import { register as doctor } from "./commands/doctor/register.ts";
import { register as drill } from "./commands/drill/register.ts";
import { register as group } from "./commands/group/register.ts";
import { register as loadtest } from "./commands/loadtest/register.ts";
import { register as local } from "./commands/local/register.ts";
import { register as plan } from "./commands/plan/register.ts";
import { register as preview } from "./commands/preview/register.ts";
import { register as rollout } from "./commands/rollout/register.ts";
import { register as tools } from "./commands/tools/register.ts";
import { register as up } from "./commands/up/register.ts";

export type { Outcome, Sink } from "./commands/command.ts";

/** The verbs in the order `imctl --help` lists them. */
const VERBS = [local, cluster, loadtest, plan, preview, up, destroy, bandwidth, drill, doctor, rollout, group, tools];

export function buildProgram(sink: Sink): Command {
  const program = new Command("imctl")
    .description("Operate the IM platform and its local target")
    .option("--json", "print the result as JSON (for CI)")
    .exitOverride();
  for (const register of VERBS) register(program, sink);
  return program;
}
