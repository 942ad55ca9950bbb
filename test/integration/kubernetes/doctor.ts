/**
 * `imctl doctor` on the kubernetes target, against the embedded cluster's deployed platform (the runner's `up`):
 * green on the healthy platform (the cluster has no metrics-server, so the autoscalers only warn); a canary whose
 * image the kubelet may never pull fails the doctor naming `im/gateway-canary` and its pod; put back at rest, the
 * doctor is green again, so the suites after this one see the platform as it was.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { sleep } from "../../../base/sleep.ts";
import { json, type EmbeddedContext } from "../../helpers/embedded.ts";

const NAMESPACE = "im";
const CANARY = "gateway-canary";
const MISSING_IMAGE = "imctl.local/does-not-exist:0";
/** How long the platform may take to be green again after the canary is put back (a pod to end, a rollout). */
const GREEN_AGAIN_MS = 120_000;

interface Row {
  area: string;
  name: string;
  status: string;
  detail: string;
}

const rows = (out: Record<string, any>) => out.checks as Row[];
const failingRows = (out: Record<string, any>) =>
  rows(out)
    .filter((c) => c.status === "fail")
    .map((c) => `${c.name}: ${c.detail}`)
    .join("\n");

export function doctorSuite(ctx: () => EmbeddedContext): void {
  const doctor = async () => {
    const r = await ctx().run(["doctor", "--stack", ctx().stack, "--json"]);
    return { exitCode: r.exitCode, out: json(r) };
  };

  it("doctor: the healthy platform on the cluster is green (exit 0), every workload at its desired count", async (t) => {
    const { exitCode, out } = await doctor();
    // What a green cluster still warns about (the autoscalers without metrics-server, a node under pressure).
    for (const c of rows(out).filter((r) => r.status === "warn")) t.diagnostic(`warn ${c.name}: ${c.detail}`);
    assert.equal(out.target, "kubernetes");
    assert.equal(exitCode, 0, `failing:\n${failingRows(out)}`);
    assert.equal(out.healthy, true);
    const row = (name: string) => rows(out).find((c) => c.name === name);
    assert.match(row(`${NAMESPACE}/gateway-stable`)?.detail ?? "", /^2\/2 ready/);
    assert.equal(row(`${NAMESPACE}/${CANARY}`)?.detail, "0 desired (scaled to zero)");
    assert.equal(row("node im-node-real")?.status, "ok");
    // The stack names the cluster's Prometheus (through the API server's service proxy): its alert and backlog
    // checks ran there.
    assert.equal(row("firing-alerts")?.status, "ok", JSON.stringify(row("firing-alerts")));
    assert.notEqual(row("message-backlog")?.status, "fail", JSON.stringify(row("message-backlog")));
  });

  it(`doctor: a canary that can never start fails naming ${NAMESPACE}/${CANARY}; at rest again, green`, async (t) => {
    const apps = ctx().kc.makeApiClient(k8s.AppsV1Api);
    const before = await apps.readNamespacedDeployment({ name: CANARY, namespace: NAMESPACE });
    const c = before.spec?.template.spec?.containers.find((x) => x.name === "gateway");
    assert.ok(c, "the canary has a gateway container");
    const patch = (replicas: number, image: string, imagePullPolicy: string | undefined) =>
      apps.patchNamespacedDeployment(
        {
          name: CANARY,
          namespace: NAMESPACE,
          body: {
            spec: { replicas, template: { spec: { containers: [{ name: "gateway", image, imagePullPolicy }] } } },
          },
        },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch),
      );
    // Never pulled: the kubelet reports ErrImageNeverPull at once instead of trying a registry that does not exist.
    await patch(1, MISSING_IMAGE, "Never");
    try {
      const deadline = Date.now() + 60_000;
      let last: { exitCode: number; out: Record<string, any> };
      let pod: Row | undefined;
      do {
        last = await doctor();
        pod = rows(last.out).find((r) => r.name.startsWith(`pod ${NAMESPACE}/${CANARY}-`) && r.status === "fail");
        if (pod === undefined) await sleep(2000);
      } while (pod === undefined && Date.now() < deadline);
      assert.equal(last.exitCode, 1, JSON.stringify(last.out.checks));
      assert.ok((last.out.failing as string[]).includes(`${NAMESPACE}/${CANARY}`), String(last.out.failing));
      assert.ok(pod, `no failing canary pod row:\n${failingRows(last.out)}`);
      t.diagnostic(`${pod.name}: ${pod.detail}`);
      assert.match(pod.detail, new RegExp(`^Deployment ${NAMESPACE}/${CANARY}: container gateway ErrImageNeverPull`));
    } finally {
      await patch(before.spec?.replicas ?? 0, c.image ?? "", c.imagePullPolicy);
    }
    const deadline = Date.now() + GREEN_AGAIN_MS;
    let last = await doctor();
    while (last.exitCode !== 0 && Date.now() < deadline) {
      await sleep(3000);
      last = await doctor();
    }
    assert.equal(
      last.exitCode,
      0,
      `still failing ${GREEN_AGAIN_MS / 1000} s after the canary was put back:\n${failingRows(last.out)}`,
    );
  });
}
