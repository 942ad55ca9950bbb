/** `imctl cluster ...`: an embedded Kubernetes cluster (simulated nodes in three zones) on this machine. */
import { type Command, InvalidArgumentError, Option } from "commander";
import { examples, lazyActions, outcome, type Sink } from "../command.ts";
import { STRINGS, wholeNumber } from "../flags.ts";

/** `17001-17006,19092` -> the ports, each 1-65535, at most 64 of them. */
export function portList(value: string): number[] {
  const out: number[] = [];
  for (const part of value.split(",")) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part.trim());
    const from = Number(m?.[1]);
    const to = m?.[2] === undefined ? from : Number(m[2]);
    if (!m || from < 1 || to > 65535 || to < from || to - from > 63)
      throw new InvalidArgumentError(
        `got ${JSON.stringify(value.slice(0, 80))}; allowed: ports or ranges of 1-65535, comma-separated (17001-17006,19092)`,
      );
    for (let p = from; p <= to; p++) out.push(p);
  }
  if (out.length > 64) throw new InvalidArgumentError(`got ${out.length} ports; allowed: at most 64`);
  return [...new Set(out)];
}

const clusterActions = (sink: Sink) => lazyActions(sink, () => import("./index.ts"));

export function register(program: Command, sink: Sink): void {
  const act = clusterActions(sink);
  const cluster = program
    .command("cluster")
    .description(
      "an embedded Kubernetes cluster on this machine: etcd, API server, controllers, kwok nodes in 3 zones",
    );
  const up = cluster
    .command("up")
    .description(
      "start (or repair) the embedded cluster and write its kubeconfig; --nodes real adds a node whose pods run",
    )
    .addOption(
      new Option("--nodes <kind>", "simulated: kwok nodes only; real: also a containerd + kubelet node")
        .choices(["simulated", "real"])
        .default("simulated"),
    )
    .option(
      "--host-ports <ports>",
      "machine loopback ports the real node's pods reach at 127.0.0.1 (default: the local stack's data tier)",
      portList,
    )
    .action(
      act(async (m, opts: { nodes: "simulated" | "real"; hostPorts?: number[] }) => {
        const r = await m.up(opts);
        return outcome(r, m.renderUp(r), r.healthy ? 0 : 1);
      }),
    );
  examples(up, [
    "cluster up",
    "cluster up --nodes real",
    "cluster up --nodes real --host-ports 17001-17006,13306 --json",
  ]);
  registerImages(cluster, act);
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
        return outcome(r, m.renderDown(r), r.portsStillInUse.length || r.leftovers.length ? 1 : 0);
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

function registerImages(cluster: Command, act: ReturnType<typeof clusterActions>): void {
  const images = cluster
    .command("images")
    .description("build the services' images from this checkout (no Docker) and import them into the real node")
    .option(
      "--tag <version>",
      "also tag each image as imctl.local/<service>:<version>, for a rollout",
      STRINGS.imageTag,
    )
    .action(
      act(async (m, opts: { tag?: string }) => {
        const r = await m.images(opts);
        return outcome(r, m.renderImages(r));
      }),
    );
  examples(images, ["cluster images", "cluster images --json", "cluster images --tag 2.0.0"]);
}
