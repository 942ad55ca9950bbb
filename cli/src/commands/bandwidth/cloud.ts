/**
 * The cloud path of `imctl bandwidth upgrade`: the change goes into the stack file infra reads
 * (`services.gateway.replicas`), applied with `pulumi up` through the Automation API (imctl up's runPulumi, with
 * the policy pack) when the Pulumi CLI is in .tools/bin or on PATH, then verified on the live platform (every gateway
 * Ready and reporting its cap through the API server) when the caller can.
 * Without one: one line saying so, and nothing changes. The backup is a stack export; a failed `up` puts the stack
 * file back and runs `up` again.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseDocument } from "yaml";
import { ExitError, UserError } from "../../errors.ts";
import { MESSAGES } from "./messages.ts";
import { stateDir } from "../../lib/paths.ts";
import type { BandwidthPlan } from "./plan-file.ts";
import { EXIT_UNAVAILABLE, findOnPath, openEngineStack, preparePulumiRun, runPulumi } from "../automation.ts";
import { engineSearchPath } from "../../lib/pulumi-engine.ts";
import { appendAudit, reportDir } from "./store.ts";

export interface CloudUpgradeResult {
  cloud: true;
  stack: string;
  change: string;
  phase: "Succeeded" | "RolledBack";
  backup: string;
  text: string;
}

export async function upgradeCloud(
  stackFile: string,
  plan: BandwidthPlan,
  opts: {
    yes?: boolean;
    progress: (l: string) => void;
    /**
     * Checks the applied change on the live platform (the new gateways Ready and answering); resolves to null when
     * it holds, or the reason it does not, which rolls the change back. Default: none (the engine's result only).
     */
    verify?: (replicas: number) => Promise<string | null>;
  },
): Promise<CloudUpgradeResult> {
  if (plan.change.option !== "horizontal") {
    throw new UserError(
      MESSAGES.optionNotApplicable(
        plan.change.option,
        "kubernetes",
        "the stack has no field for the EIP / load balancer bandwidth yet; use change.option horizontal (services.gateway.replicas)",
      ),
    );
  }
  const { from, to } = plan.change.replicas;
  const doc = parseDocument(readFileSync(stackFile, "utf8"));
  const current = doc.getIn(["services", "gateway", "replicas"]);
  if (current !== from)
    throw new UserError(
      `change.replicas.from: got ${from}; allowed: ${String(current)}, the value of services.gateway.replicas in ${stackFile} now (make the plan again)`,
    );
  const change = `services.gateway.replicas ${from} -> ${to} in ${stackFile}`;
  if (!opts.yes) throw new UserError(MESSAGES.confirmUpgrade);
  // The same lookup and exit code as imctl up: 69 (EX_UNAVAILABLE) when the machine lacks the CLI.
  if (findOnPath("pulumi", engineSearchPath()) === undefined)
    throw new ExitError(MESSAGES.pulumiMissing(change), EXIT_UNAVAILABLE);
  // imctl up's checks (stack under stacks/, provider plugins), then its stack in imctl's workspace.
  const stack = await openEngineStack(preparePulumiRun("up", { stack: stackFile, yes: true }));
  const name = String(doc.get("name"));
  const dir = reportDir(stateDir(), "cloud-upgrades", new Date());
  const backup = join(dir, "stack-export.json");
  const original = readFileSync(stackFile, "utf8");
  opts.progress(`backup: exporting stack ${name} to ${backup}`);
  writeFileSync(backup, JSON.stringify(await stack.exportStack(), null, 2));
  appendAudit(stateDir(), { action: "upgrade", subject: name, detail: change, data: { cloud: true, backup } });
  doc.setIn(["services", "gateway", "replicas"], to);
  writeFileSync(stackFile, doc.toString());
  try {
    opts.progress(`adjust: ${change}; pulumi up`);
    const r = await runPulumi("up", { stack: stackFile, yes: true, progress: opts.progress });
    if (r.result !== "succeeded") throw new Error(`pulumi up ${r.result}`);
    if (opts.verify !== undefined) {
      opts.progress(`verify: ${to} gateway(s) Ready and answering`);
      const why = await opts.verify(to);
      if (why !== null) throw new Error(`verification failed: ${why}`);
    }
    return {
      cloud: true,
      stack: name,
      change,
      phase: "Succeeded",
      backup,
      text: `${change}: applied with pulumi up (backup ${backup})`,
    };
  } catch (err) {
    opts.progress(
      `rollback: pulumi up failed (${err instanceof Error ? err.message.split("\n")[0] : String(err)}); restoring ${stackFile} and running pulumi up again`,
    );
    writeFileSync(stackFile, original);
    await runPulumi("up", { stack: stackFile, yes: true, progress: opts.progress });
    appendAudit(stateDir(), { action: "rollback", subject: name, detail: change, data: { cloud: true } });
    return {
      cloud: true,
      stack: name,
      change,
      phase: "RolledBack",
      backup,
      text: `${change}: pulumi up failed; the stack file was restored and applied again (backup ${backup})`,
    };
  }
}
