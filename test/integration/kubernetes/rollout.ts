/**
 * `imctl rollout` on the kubernetes target, against the embedded cluster's real node: the gateway's canary weight is
 * its HTTPRoute's backendRef weight, Traefik (the Gateway API controller) routes by it, the analysis reads the
 * cluster's own Prometheus through the API server's service proxy, and k6 sends through the route meanwhile.
 * Registered by test/integration/real-node.test.ts on its platform (the stack deployed, the cluster healthy).
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { stringify } from "yaml";
import { routeWeights, type HttpRoute } from "../../../cli/src/targets/kubernetes/rollout.ts";
import type { RolloutResult } from "../../../cli/src/commands/rollout/index.ts";
import { json, type EmbeddedContext } from "../../helpers/embedded.ts";
import { GATEWAY_ANALYSIS_INTERVAL_SECONDS, gatewayStrategy as strategy } from "../../helpers/rollout-strategy.ts";
import { tempDir } from "../../helpers/imctl.ts";

const ANALYSIS_INTERVAL_SECONDS = GATEWAY_ANALYSIS_INTERVAL_SECONDS;

interface Seen {
  at: number;
  stable: number;
  canary: number;
  accepted: boolean;
}

/** Reads the gateway's HTTPRoute every 250 ms until stopped: the weights as the route and its controller say them. */
function watchRoute(kc: k8s.KubeConfig): { seen: Seen[]; stop(): void } {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const seen: Seen[] = [];
  let stopped = false;
  void (async () => {
    while (!stopped) {
      const route = (await custom
        .getNamespacedCustomObject({
          group: "gateway.networking.k8s.io",
          version: "v1",
          plural: "httproutes",
          namespace: "im",
          name: "gateway",
        })
        .catch(() => null)) as HttpRoute | null;
      const w = route ? routeWeights(route, "gateway", "gateway-canary") : null;
      if (w) seen.push({ at: Date.now(), stable: w.stable, canary: w.canary, accepted: w.accepted });
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return { seen, stop: () => (stopped = true) };
}

async function gatewayPodVersions(kc: k8s.KubeConfig, track: "stable" | "canary"): Promise<string[]> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const pods = await core.listNamespacedPod({
    namespace: "im",
    labelSelector: `app.kubernetes.io/name=gateway,im/track=${track}`,
  });
  return pods.items
    .filter((p) => !p.metadata?.deletionTimestamp)
    .map((p) => p.spec?.containers[0]?.env?.find((e) => e.name === "SERVICE_VERSION")?.value ?? "?");
}

export function rolloutSuite(ctx: () => EmbeddedContext): void {
  const dir = tempDir("k8s-rollout");
  const file = join(dir, "strategy.yaml");
  writeFileSync(file, stringify(strategy));

  async function underLoad(version: string, env: string[]) {
    const c = ctx();
    const watch = watchRoute(c.kc);
    const start = c.run([
      "rollout",
      "start",
      "gateway",
      "--version",
      version,
      "--stack",
      c.stack,
      "--strategy",
      file,
      ...env.flatMap((e) => ["--env", e]),
      "--json",
    ]);
    // New WebSockets follow the weight; established ones stay put: k6 connects once the route says 70/30.
    const running = { done: false };
    void start.finally(() => (running.done = true));
    for (let i = 0; i < 240 && !running.done; i++) {
      if (watch.seen.some((x) => x.canary === 30 && x.accepted)) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    const load = c.run([
      "loadtest",
      "run",
      "messaging",
      "--stack",
      c.stack,
      "--vus",
      "20",
      "--rate",
      "10",
      "--duration",
      "60s",
      "--max-p99",
      "10000",
      "--json",
    ]);
    const [r, l] = await Promise.all([start, load]);
    watch.stop();
    return { r, l, seen: watch.seen };
  }

  it("builds the new versions' images into the real node (imctl cluster images --tag)", async () => {
    for (const tag of ["2.0.0", "2.1.0-bad"]) {
      const r = await ctx().run(["cluster", "images", "--tag", tag, "--json"]);
      assert.equal(r.exitCode, 0, r.stderr.slice(-2000));
      assert.equal(json(r).tagged.gateway, `imctl.local/gateway:${tag}`);
    }
  });

  it(
    "promotes a gateway canary to 100 % under k6 load through the HTTPRoute (weights read back, Traefik " +
      "accepted each), analysed on the cluster's Prometheus; nothing lost",
    { timeout: 600_000 },
    async () => {
      const { r, l, seen } = await underLoad("2.0.0", []);
      assert.equal(r.exitCode, 0, r.stderr.slice(-4000));
      const out = json(r) as RolloutResult;
      assert.equal(out.phase, "Promoted", out.reason ?? "");
      assert.ok(
        out.rollout.measurements.length >= 6 && out.rollout.measurements.every((m) => m.phase === "Successful"),
        JSON.stringify(out.rollout.measurements),
      );
      // The route said 70/30 and its controller accepted it, then 0/100, then back to the stable Service alone.
      const accepted = (s: number, c: number) => seen.some((x) => x.stable === s && x.canary === c && x.accepted);
      assert.ok(accepted(70, 30), `70/30 accepted: ${JSON.stringify(seen.slice(-5))}`);
      assert.ok(accepted(0, 100), `0/100 accepted: ${JSON.stringify(seen.slice(-5))}`);
      const last = seen.at(-1);
      assert.deepEqual([last?.stable, last?.canary], [100, 0]);
      assert.deepEqual(await gatewayPodVersions(ctx().kc, "stable"), ["2.0.0", "2.0.0"]);
      assert.deepEqual(await gatewayPodVersions(ctx().kc, "canary"), []);
      const load = json(l);
      assert.equal(load.figures.lost, 0, JSON.stringify(load.figures));
      assert.ok(load.figures.sent > 0);
      process.stderr.write(
        `kubernetes rollout: k6 sent ${load.figures.sent}, lost ${load.figures.lost}, reconnects ` +
          `${load.figures.reconnects}; route states seen ${seen.length}\n`,
      );
    },
  );

  it(
    "aborts a bad gateway canary on a failed measurement: the route is back at 0 within one analysis interval, " +
      "the canary drained, nothing lost",
    { timeout: 600_000 },
    async () => {
      const { r, l, seen } = await underLoad("2.1.0-bad", ["GATEWAY_FAULT_LATENCY_MS=1000"]);
      assert.equal(r.exitCode, 1, r.stderr.slice(-4000));
      const out = json(r) as RolloutResult;
      assert.equal(out.phase, "Aborted");
      assert.equal(out.canaryWeight, 0);
      assert.match(out.reason ?? "", /^analysis of step 3 failed: (send-p99|error-rate): /);
      const failed = out.rollout.measurements.find((m) => m.phase === "Failed");
      assert.ok(failed, JSON.stringify(out.rollout.measurements));
      const failedAt = Date.parse(failed.at);
      const back = seen.find((x) => x.at >= failedAt && x.canary === 0 && x.accepted);
      assert.ok(back, `the route went back to 0: ${JSON.stringify(seen.slice(-5))}`);
      // A budget, as the issue states it: the traffic is off the canary within one analysis interval.
      assert.ok(
        back.at - failedAt <= ANALYSIS_INTERVAL_SECONDS * 1000,
        `route at 0 ${back.at - failedAt} ms after the failed measurement`,
      );
      assert.deepEqual(await gatewayPodVersions(ctx().kc, "canary"), []);
      assert.deepEqual(await gatewayPodVersions(ctx().kc, "stable"), ["2.0.0", "2.0.0"], "stable untouched");
      const load = json(l);
      assert.equal(load.figures.lost, 0, JSON.stringify(load.figures));
      process.stderr.write(
        `kubernetes abort: route at 0 ${back.at - failedAt} ms after the failed measurement; k6 sent ` +
          `${load.figures.sent}, lost ${load.figures.lost}\n`,
      );
    },
  );
}
