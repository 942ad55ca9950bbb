/** `imctl cluster ...`: an embedded Kubernetes cluster (simulated nodes in three zones) on this machine. */
import type { Command } from "commander";
import { examples, lazyActions, outcome, type Sink } from "../command.ts";
import { wholeNumber } from "../flags.ts";

export function register(program: Command, sink: Sink): void {
  const act = lazyActions(sink, () => import("./index.ts"));
  const cluster = program
    .command("cluster")
    .description(
      "an embedded Kubernetes cluster on this machine: etcd, API server, controllers, kwok nodes in 3 zones",
    );
  const up = cluster
    .command("up")
    .description("start (or repair) the embedded cluster and write its kubeconfig; pods on its nodes do not run")
    .action(
      act(async (m) => {
        const r = await m.up();
        return outcome(r, m.renderUp(r), r.healthy ? 0 : 1);
      }),
    );
  examples(up, ["cluster up", "cluster up --json"]);
  const status = cluster
    .command("status")
    .description("every component (pid, port, health), the nodes and the kubeconfig path")
    .action(
      act(async (m) => {
        const r = await m.status();
        return outcome(r, m.renderStatus(r), r.healthy ? 0 : 1);
      }),
    );
  examples(status, ["cluster status", "cluster status --json"]);
  const down = cluster
    .command("down")
    .description("stop every component and delete the cluster's data (asks for --yes)")
    .option("-y, --yes", "confirm deleting the cluster's data")
    .action(
      act(async (m, opts: { yes?: boolean }) => {
        const r = await m.down(opts);
        return outcome(r, m.renderDown(r), r.portsStillInUse.length ? 1 : 0);
      }),
    );
  examples(down, ["cluster down --yes"]);
  const logs = cluster
    .command("logs")
    .description("the last lines of one component's log")
    .argument("<component>", "etcd, kube-apiserver, kube-controller-manager, kube-scheduler or kwok")
    .option("-n, --lines <n>", "how many lines (1 to 100,000)", wholeNumber(1, 100_000), 100)
    .action(
      act(async (m, component: string, opts: { lines: number }) => {
        const r = m.logs(component, opts);
        return outcome(r, m.renderLogs(r));
      }),
    );
  examples(logs, ["cluster logs kube-apiserver", "cluster logs kwok -n 50"]);
}
