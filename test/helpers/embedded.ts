/**
 * One embedded-cluster platform for the kubernetes target's integration tests, brought up once per test file: the
 * local target's data tier (its own services stopped), `imctl cluster up --nodes real`, and the embedded-cluster stack
 * file (`stack`: services on the real node; the runner's first test deploys it with `imctl up`, the real Pulumi
 * engine). `simulatedStack()` deploys a second copy of the
 * platform, in its own namespace, onto the three simulated (kwok) nodes, one per zone, for topology tests (its pods
 * do not run: see docs/embedded-cluster.md). Suites in test/integration/kubernetes/ take an `EmbeddedContext` getter
 * and register their `it`s; test/integration/real-node.test.ts runs them all on one platform.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { parse, stringify } from "yaml";
import { REPO_ROOT } from "../../base/root.mjs";
import { localPortAssignments } from "../../infra/lib/spec.ts";
import { imctl, tempDir, type ImctlRun } from "./imctl.ts";
import { startPlatform, type TestPlatform } from "./platform.ts";

export interface EmbeddedContext {
  p: TestPlatform;
  /** IMCTL_STATE_DIR of this platform: pass to every imctl run. */
  env: Record<string, string>;
  /** The embedded-cluster stack file (services on the real node, namespace "im"). */
  stack: string;
  kc: k8s.KubeConfig;
  /** The stack deployed onto the simulated nodes (namespace SIMULATED_NAMESPACE), deployed on first call. */
  simulatedStack(): Promise<string>;
  /** Runs imctl with this platform's environment. */
  run(args: string[]): Promise<ImctlRun>;
}

export const SIMULATED_NAMESPACE = "im-sim";

/** The JSON an imctl --json run printed, or an assertion naming what it printed instead. */
export function json(r: ImctlRun): Record<string, any> {
  assert.ok(r.stdout.trim().startsWith("{"), `expected JSON, got: ${r.stdout.slice(0, 300)}\n${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout) as Record<string, any>;
}

function embeddedSpec(p: TestPlatform): Record<string, any> {
  const ports = localPortAssignments(p.spec);
  const port = (re: RegExp) => ports.filter(([f]) => re.test(f)).map(([, n]) => n);
  const spec = parse(readFileSync(join(REPO_ROOT, "stacks", "embedded-cluster.yaml"), "utf8")) as Record<string, any>;
  spec.cluster.kubeconfig = join(p.stateDir, "cluster", "kubeconfig");
  spec.cluster.data.redisNodes = port(/^redis \(/)
    .slice(0, p.spec.data.redis.primaries)
    .map((n) => `127.0.0.1:${n}`);
  spec.cluster.data.kafkaBrokers = port(/^kafka \(/).map((n) => `127.0.0.1:${n}`);
  spec.cluster.data.database = { host: "127.0.0.1", port: p.spec.local.ports.database, adminUser: "root" };
  spec.kubernetes.drainSeconds = 5;
  return spec;
}

/** The data tier's loopback ports, which the real node's pods reach at the same addresses. */
function hostPorts(p: TestPlatform): number[] {
  const ports = localPortAssignments(p.spec);
  const port = (re: RegExp) => ports.filter(([f]) => re.test(f)).map(([, n]) => n);
  return [...port(/^redis \(/), ...port(/^kafka \(/), p.spec.local.ports.database];
}

/** Brings the whole thing up; `down()` undoes it (also after a failed start). */
export async function startEmbedded(offset: number): Promise<EmbeddedContext & { down(): Promise<void> }> {
  const p = await startPlatform(offset);
  const env = { IMCTL_STATE_DIR: p.stateDir };
  const run = (args: string[]) => imctl(args, env);
  const stacks: string[] = [];
  const down = async () => {
    // Best effort: the last test may have destroyed them and taken the cluster down already, and `cluster down`
    // below removes whatever is left. Their files go when this process exits.
    for (const s of stacks.reverse()) await run(["destroy", "--stack", s, "--yes"]).catch(() => undefined);
    await run(["cluster", "down", "--yes"]).catch(() => undefined);
    await p.down();
  };
  try {
    // Only the local target's data tier stays: its own services would share the cluster's Kafka consumer group and
    // take notifications for users connected to the cluster's gateways, whose pod addresses they cannot reach.
    for (const [svc, field] of [
      ["gateway", "gateway"],
      ["message", "message"],
      ["user-center", "userCenter"],
    ] as const) {
      for (let i = 1; i <= p.spec.services[field].replicas; i++) process.kill(p.pid(`${svc}-${i}`), "SIGTERM");
    }
    const up = await run(["cluster", "up", "--nodes", "real", "--host-ports", hostPorts(p).join(","), "--json"]);
    assert.equal(up.exitCode, 0, up.stderr.slice(-3000));
    const spec = embeddedSpec(p);
    const stack = join(tempDir("stack"), "embedded-cluster.yaml");
    writeFileSync(stack, stringify(spec));
    stacks.push(stack);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(spec.cluster.kubeconfig);
    let simulated: Promise<string> | undefined;
    const simulatedStack = () =>
      (simulated ??= (async () => {
        const sim = structuredClone(spec);
        sim.name = "embedded-simulated";
        sim.kubernetes.namespace = SIMULATED_NAMESPACE;
        // One pod per zone: the simulated nodes are the only ones with type=kwok, one in each zone.
        sim.cluster.nodeSelector = { type: "kwok" };
        // Its own host: two routes for one host would make the traffic controller split real traffic onto fake pods.
        sim.kubernetes.ingress.host = "im-sim.embedded.example.com";
        for (const s of ["gateway", "message", "userCenter"]) sim.services[s].replicas = 3;
        const file = join(tempDir("stack"), "embedded-simulated.yaml");
        writeFileSync(file, stringify(sim));
        const r = await run(["up", "--stack", file, "--yes", "--json"]);
        assert.equal(r.exitCode, 0, r.stderr.slice(-4000));
        stacks.push(file);
        return file;
      })());
    return { p, env, stack, kc, simulatedStack, run, down };
  } catch (err) {
    await down();
    throw err;
  }
}
