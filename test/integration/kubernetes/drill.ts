/**
 * `imctl drill run` on the kubernetes target, against the embedded cluster: pod-kills on the real node (pods that
 * really run, the message probe through the Gateway API route), a node drain and a zone loss on the simulated nodes
 * (the second platform copy, one pod per zone: controllers, the scheduler, PodDisruptionBudgets and evictions are real
 * there, the containers are not, so the probe does not run and recovery rests on workload counts), and a partition
 * as a NetworkPolicy. Each drill is judged from its --json report; afterwards every node is schedulable and every
 * workload at its desired Ready count. Timing is a budget (the test's timeout), never the result.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { DRILL_LABEL, drillLabelValue } from "../../../cli/src/targets/kubernetes/kube-faults.ts";
import { json, SIMULATED_NAMESPACE, type EmbeddedContext } from "../../helpers/embedded.ts";

interface Workload {
  workload: string;
  service: string;
  desired: number;
  minReady: number;
  readyAtEnd: number;
}

/** The report's common figures: exit code, phase, detection and recovery present and not negative. */
function assertDrill(r: { exitCode: number; stderr: string }, report: Record<string, any>): void {
  assert.equal(r.exitCode, 0, `${JSON.stringify(report.reasons)}\n${r.stderr.slice(-3000)}`);
  assert.equal(report.phase, "Passed");
  assert.deepEqual(report.reasons, []);
  assert.ok(typeof report.recoverySeconds === "number" && report.recoverySeconds >= 0, `${report.recoverySeconds}`);
  assert.ok(typeof report.detectionSeconds === "number" && report.detectionSeconds >= 0, `${report.detectionSeconds}`);
}

function workload(report: Record<string, any>, name: string): Workload {
  const w = (report.workloads as Workload[]).find((x) => x.workload === name);
  assert.ok(w, `${name} not in ${JSON.stringify(report.workloads)}`);
  return w;
}

/** Afterwards: no node left cordoned, every Deployment and StatefulSet of the namespace at its desired Ready count. */
async function assertRestored(kc: k8s.KubeConfig, namespace: string): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const nodes = (await core.listNode()).items;
  assert.deepEqual(
    nodes.filter((n) => n.spec?.unschedulable === true).map((n) => n.metadata?.name),
    [],
    "a node is still cordoned",
  );
  for (const d of (await apps.listNamespacedDeployment({ namespace })).items)
    assert.equal(d.status?.readyReplicas ?? 0, d.spec?.replicas ?? 0, `${namespace}/${d.metadata?.name} Ready`);
  for (const s of (await apps.listNamespacedStatefulSet({ namespace })).items)
    assert.equal(s.status?.readyReplicas ?? 0, s.spec?.replicas ?? 0, `${namespace}/${s.metadata?.name} Ready`);
}

/** The figures of a drill, as a test diagnostic: what a reader of the test output wants to see, never asserted on. */
function figures(report: Record<string, any>): string {
  const w = (report.workloads as Workload[]).map((x) => `${x.workload} ${x.minReady}..${x.readyAtEnd}/${x.desired}`);
  return (
    `${report.fault} ${report.component}: detection ${report.detectionSeconds} s, recovery ${report.recoverySeconds} s, ` +
    `probe ${report.probe.ran ? `${report.acknowledged}/${report.sent} acknowledged, ${report.lostAcknowledged} lost` : "not run"}; ` +
    w.join(", ")
  );
}

export function drillSuite(ctx: () => EmbeddedContext): void {
  const drill = async (t: { diagnostic(m: string): void }, ...args: string[]) => {
    const r = await ctx().run(["drill", "run", ...args, "--yes", "--json"]);
    const report = json(r);
    t.diagnostic(figures(report));
    return { r, report };
  };

  it(
    "pod-kill of a gateway pod on the real node: the message probe loses no acknowledged message; recovery when " +
      "gateway-stable is back at 2/2 Ready",
    { timeout: 300_000 },
    async (t) => {
      const { r, report } = await drill(t, "pod-kill", "--stack", ctx().stack, "--workload", "gateway-stable");
      assertDrill(r, report);
      assert.equal(report.fault, "pod-kill");
      assert.equal(report.action, "terminate", "graceful: the pod's own grace period");
      assert.deepEqual(report.probe, { ran: true, why: null });
      assert.ok(report.acknowledged > 0, `the probe sent through the edge: ${JSON.stringify(report)}`);
      assert.equal(report.lostAcknowledged, 0);
      assert.equal(report.duplicated, 0);
      assert.equal(report.seqMonotonic, true);
      const g = workload(report, "Deployment/gateway-stable");
      assert.equal(g.desired, 2);
      assert.ok(g.minReady < 2, `the kill showed in the Ready count: ${JSON.stringify(g)}`);
      assert.equal(g.readyAtEnd, 2);
      await assertRestored(ctx().kc, "im");
    },
  );

  it("pod-kill of a message pod on the real node: no acknowledged message lost", { timeout: 300_000 }, async (t) => {
    const { r, report } = await drill(t, "pod-kill", "--stack", ctx().stack, "--workload", "message-stable");
    assertDrill(r, report);
    assert.deepEqual(report.probe, { ran: true, why: null });
    assert.ok(report.acknowledged > 0);
    assert.equal(report.lostAcknowledged, 0);
    assert.equal(report.duplicated, 0);
    const m = workload(report, "Deployment/message-stable");
    assert.deepEqual([m.desired, m.readyAtEnd], [2, 2]);
    await assertRestored(ctx().kc, "im");
  });

  it(
    "node-drain on simulated nodes: evictions respect the PodDisruptionBudget; every workload back at desired Ready",
    { timeout: 600_000 },
    async (t) => {
      const stack = await ctx().simulatedStack();
      const policy = ctx().kc.makeApiClient(k8s.PolicyV1Api);
      const pdbs = (await policy.listNamespacedPodDisruptionBudget({ namespace: SIMULATED_NAMESPACE })).items;
      assert.ok(pdbs.length >= 3, "a PodDisruptionBudget per service");
      const { r, report } = await drill(
        t,
        "node-drain",
        "--stack",
        stack,
        "--instance",
        "kwok-zone-a",
        "--duration",
        "10s",
      );
      assertDrill(r, report);
      assert.equal(report.component, "kwok-zone-a");
      assert.equal(report.probe.ran, false, "nothing answers on simulated nodes");
      assert.match(report.probe.why, /simulated/);
      assert.ok(report.evictions.evicted.length >= 3, JSON.stringify(report.evictions));
      for (const p of report.evictions.evicted as string[]) assert.ok(p.startsWith(`${SIMULATED_NAMESPACE}/`), p);
      // What the budget allows: never fewer Ready than desired - maxUnavailable, for every service.
      for (const pdb of pdbs) {
        const service = pdb.spec?.selector?.matchLabels?.["app.kubernetes.io/name"] ?? "";
        const w = workload(report, `Deployment/${service}-stable`);
        const maxUnavailable = Number(pdb.spec?.maxUnavailable ?? 0);
        assert.ok(w.minReady >= w.desired - maxUnavailable, `${service}: ${JSON.stringify(w)} under ${maxUnavailable}`);
        assert.equal(w.readyAtEnd, w.desired);
      }
      await assertRestored(ctx().kc, SIMULATED_NAMESPACE);
    },
  );

  it(
    "zone-loss of zone-b on simulated nodes (3 zones): every service keeps at least 2/3 of its Ready replicas, and " +
      "the report says so",
    { timeout: 600_000 },
    async (t) => {
      const stack = await ctx().simulatedStack();
      const { r, report } = await drill(t, "zone-loss", "--stack", stack, "--zone", "zone-b", "--duration", "10s");
      assertDrill(r, report);
      assert.equal(report.component, "zone-b");
      assert.ok(
        (report.deletedPods as string[]).length >= 3,
        `one pod of each service was in zone-b: ${report.deletedPods}`,
      );
      assert.equal(report.zoneSpread.zone, "zone-b");
      assert.equal(report.zoneSpread.rule, "kept >= 2/3 of Ready replicas");
      assert.equal(report.zoneSpread.kept, true);
      assert.deepEqual(
        (report.zoneSpread.services as Array<{ service: string }>).map((s) => s.service),
        ["gateway", "message", "user-center"],
      );
      for (const s of report.zoneSpread.services as Array<{ desired: number; minReady: number; fraction: number }>) {
        assert.equal(s.desired, 3);
        assert.equal(s.minReady, 2, "the zone's pod was gone, the other two kept");
        assert.ok(s.fraction >= 0.666);
      }
      for (const w of report.workloads as Workload[]) assert.equal(w.readyAtEnd, w.desired, JSON.stringify(w));
      await assertRestored(ctx().kc, SIMULATED_NAMESPACE);
    },
  );

  it(
    "partition gateway→message via a NetworkPolicy: created, labelled with the drill id, removed on restore",
    { timeout: 300_000 },
    async (t) => {
      const net = ctx().kc.makeApiClient(k8s.NetworkingV1Api);
      const seen = new Map<string, string>();
      let running = true;
      // Watch the namespace while the drill runs: the policy exists only for its --partition-seconds.
      const watcher = (async () => {
        while (running) {
          const list = await net.listNamespacedNetworkPolicy({ namespace: "im", labelSelector: DRILL_LABEL });
          for (const p of list.items) seen.set(p.metadata?.name ?? "", p.metadata?.labels?.[DRILL_LABEL] ?? "");
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      })();
      const args = ["partition", "--stack", ctx().stack, "--from", "gateway", "--to", "message"];
      const { r, report } = await drill(t, ...args, "--partition-seconds", "6s", "--duration", "12s").finally(
        () => (running = false),
      );
      await watcher;
      assert.equal(r.exitCode, 0, `${JSON.stringify(report.reasons)}\n${r.stderr.slice(-3000)}`);
      assert.equal(report.action, "partition");
      assert.equal(report.component, "gateway→message");
      assert.ok(report.recoverySeconds >= 0);
      assert.ok(report.detectionSeconds === null || report.detectionSeconds >= 0);
      assert.equal(report.networkPolicy.enforced, "unknown", "never claims an effect it did not observe");
      assert.deepEqual([...seen.entries()], [[report.networkPolicy.name, drillLabelValue(report.id)]]);
      assert.equal(report.lostAcknowledged, 0);
      const left = await net.listNamespacedNetworkPolicy({ namespace: "im", labelSelector: DRILL_LABEL });
      assert.deepEqual(
        left.items.map((p) => p.metadata?.name),
        [],
      );
      await assertRestored(ctx().kc, "im");
    },
  );
}
