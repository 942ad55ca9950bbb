/**
 * `imctl bandwidth` on the kubernetes target, against the embedded cluster's real node: the audit and the plan read the
 * gateways' egress from the cluster's Prometheus (through the API server's service proxy), the caps come from each
 * gateway pod through the pod proxy, and an upgrade adds a gateway through the stack and the real Pulumi engine, then
 * is verified on the live pods. Registered by test/integration/real-node.test.ts, after the other workflows (it
 * leaves three gateways).
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { parse, stringify } from "yaml";
import { json, type EmbeddedContext } from "../../helpers/embedded.ts";
import { tempDir } from "../../helpers/imctl.ts";

export function bandwidthSuite(ctx: () => EmbeddedContext): void {
  const dir = tempDir("k8s-bandwidth");

  it("audits the gateways' egress on kubernetes from the cluster's Prometheus, each pod's cap read from the pod", async () => {
    const c = ctx();
    // Some traffic in the window, through the route.
    const load = await c.run([
      "loadtest",
      "run",
      "smoke",
      "--stack",
      c.stack,
      "--duration",
      "15s",
      "--max-p99",
      "10000",
      "--json",
    ]);
    assert.equal(load.exitCode, 0, load.stderr.slice(-2000));
    const r = await c.run(["bandwidth", "audit", "--stack", c.stack, "--since", "10m", "--json"]);
    assert.equal(r.exitCode, 0, r.stderr.slice(-3000));
    const a = json(r);
    const instances = a.instances as Array<{ instance: string; capBytesPerSecond: number | null }>;
    assert.ok(instances.length >= 2, JSON.stringify(instances));
    for (const i of instances) assert.match(i.instance, /^gateway-(stable|canary)-/);
    const s = await c.run(["bandwidth", "status", "--stack", c.stack, "--json"]);
    assert.equal(s.exitCode, 0, s.stderr.slice(-2000));
    const caps = json(s).caps as Array<{ instance: string; bytesPerSecond: number }>;
    assert.equal(caps.length, 2, JSON.stringify(caps));
    // The services' default cap (services/gateway: EGRESS_BYTES_PER_SECOND), read from each pod's /metrics.
    for (const cap of caps) assert.equal(cap.bytesPerSecond, 100 * 1024 * 1024);
  });

  it(
    "upgrades the gateway tier horizontally through the stack and the Pulumi engine, verified on the live pods",
    { timeout: 600_000 },
    async () => {
      const c = ctx();
      const out = join(dir, "plan.yaml");
      const p = await c.run(["bandwidth", "plan", "--stack", c.stack, "--since", "10m", "--out", out, "--json"]);
      assert.equal(p.exitCode, 0, p.stderr.slice(-3000));
      // A quiet test platform needs no more capacity: the operator's edit asks for one gateway more.
      const plan = parse(readFileSync(out, "utf8")) as Record<string, any>;
      plan.change = { option: "horizontal", replicas: { from: 2, to: 3 } };
      writeFileSync(out, stringify(plan));
      const refused = await c.run(["bandwidth", "upgrade", "--stack", c.stack, "--plan", out]);
      assert.equal(refused.exitCode, 2, "asks for --yes");
      const u = await c.run(["bandwidth", "upgrade", "--stack", c.stack, "--plan", out, "--yes", "--json"]);
      assert.equal(u.exitCode, 0, u.stderr.slice(-4000));
      const res = json(u);
      assert.equal(res.phase, "Succeeded", res.text);
      const apps = c.kc.makeApiClient(k8s.AppsV1Api);
      const d = await apps.readNamespacedDeployment({ name: "gateway-stable", namespace: "im" });
      assert.equal(d.status?.readyReplicas, 3);
      const s = json(await c.run(["bandwidth", "status", "--stack", c.stack, "--json"]));
      assert.equal(s.caps.length, 3, JSON.stringify(s.caps));
    },
  );
}
