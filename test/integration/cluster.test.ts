/**
 * `imctl cluster up|status|down` for real: etcd, kube-apiserver, controller-manager, scheduler and kwok started by
 * imctl in a temp state directory. Every assertion reads the API server (through the kubeconfig `up` wrote, with
 * the CA verified): three Ready nodes in three zones, a zone-spread Deployment at 3/3 Ready, a Job complete, a
 * deleted pod replaced; then a second `up` changes nothing and `down` leaves no process and no listening port.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type * as K8s from "@kubernetes/client-node";
import { ensureTools } from "../../base/install.mjs";
import { portFree } from "../../base/ports.ts";
import { CLUSTER_MESSAGES } from "../../cli/src/cluster/index.ts";
import { pidAlive } from "../../cli/src/lib/process.ts";
import { imctl, keepTempDir, tempDir } from "../helpers/imctl.ts";

// Test-only tools: built here on first use, outside the suite's timeout (a first Go build takes minutes).
ensureTools(["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]);

const stateDir = tempDir("cluster");
const env = { IMCTL_STATE_DIR: stateDir };
const NS = "spread";

interface UpJson {
  healthy: boolean;
  alreadyRunning: boolean;
  kubeconfig: string;
  context: string;
  started: string[];
  note: string;
  components: Array<{ id: string; pid: number | null; port: number | null; state: string }>;
  nodes: Array<{ name: string; zone: string; ready: boolean; type: string }>;
}

let first: UpJson | undefined;
let k8s: typeof K8s;
let core: K8s.CoreV1Api;
let apps: K8s.AppsV1Api;
let batch: K8s.BatchV1Api;

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last: ${String(last)})` : ""}`);
}

const labels = { app: "spread" };
const deployment = {
  metadata: { name: "spread", namespace: NS },
  spec: {
    replicas: 3,
    selector: { matchLabels: labels },
    template: {
      metadata: { labels },
      spec: {
        topologySpreadConstraints: [
          {
            maxSkew: 1,
            topologyKey: "topology.kubernetes.io/zone",
            whenUnsatisfiable: "DoNotSchedule" as const,
            labelSelector: { matchLabels: labels },
          },
        ],
        containers: [{ name: "app", image: "registry.example.com/im/app:1.0.0" }],
      },
    },
  },
};

describe("imctl cluster: refusals change nothing", () => {
  it("refuses up while another workflow holds the lock", async () => {
    const dir = tempDir("cluster-locked");
    // This test process is alive, so the lock is not stale.
    writeFileSync(
      join(dir, "cluster.lock"),
      JSON.stringify({ pid: process.pid, command: "imctl cluster up", since: "now" }),
    );
    const r = await imctl(["cluster", "up"], { IMCTL_STATE_DIR: dir });
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /another imctl workflow holds the lock on this target: "imctl cluster up" \(pid \d+/);
    assert.ok(!existsSync(join(dir, "cluster")));
  });

  it("says in one line that openssl is missing, before creating anything", async () => {
    const dir = tempDir("cluster-no-openssl");
    const r = await imctl(["cluster", "up"], { IMCTL_STATE_DIR: dir, PATH: "/nonexistent" });
    assert.equal(r.exitCode, 2);
    assert.equal(r.stderr.trim(), `imctl: ${CLUSTER_MESSAGES.noOpenssl}`);
    assert.ok(!existsSync(join(dir, "cluster")));
  });
});

describe("imctl cluster: an embedded Kubernetes cluster", { timeout: 600_000 }, () => {
  before(async () => {
    const r = await imctl(["cluster", "up", "--json"], env);
    assert.equal(r.exitCode, 0, `cluster up failed:\n${r.stderr}\n${r.stdout}`);
    assert.match(r.stderr, /\[\s*\d+\.\d+s\] kube-apiserver: started and healthy/);
    first = JSON.parse(r.stdout) as UpJson;
    k8s = await import("@kubernetes/client-node");
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(first.kubeconfig);
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    batch = kc.makeApiClient(k8s.BatchV1Api);
  });

  after(async () => {
    // Never leave a cluster behind, even when an assertion failed; one that would not stop keeps its state directory.
    const down = await imctl(["cluster", "down", "--yes"], env);
    if (down.exitCode !== 0) {
      keepTempDir(stateDir);
      process.stderr.write(`imctl cluster down failed (exit ${down.exitCode}); state left in ${stateDir}\n`);
    }
  });

  it("writes a 0600 kubeconfig with the CA and a token, no skipped verification, context imctl-embedded", () => {
    assert.ok(first);
    assert.equal(first.kubeconfig, join(stateDir, "cluster", "kubeconfig"));
    assert.equal(first.context, "imctl-embedded");
    assert.equal(statSync(first.kubeconfig).mode & 0o777, 0o600);
    const text = readFileSync(first.kubeconfig, "utf8");
    assert.ok(!text.includes("insecure-skip-tls-verify"));
    const cfg = JSON.parse(text) as { clusters: Array<{ cluster: Record<string, string> }> };
    assert.ok(cfg.clusters[0]?.cluster["certificate-authority-data"]);
    assert.match(first.note, /do not run/);
  });

  it("has three Ready simulated nodes, one per zone, as the API server lists them", async () => {
    // The node lifecycle controller lifts the node.kubernetes.io/not-ready taint a moment after a node turns Ready
    // (seen in CI right after up): wait for it, bounded.
    let nodes = (await core.listNode()).items;
    for (let i = 0; i < 60 && nodes.some((n) => (n.spec?.taints ?? []).length > 0); i++) {
      await new Promise((r) => setTimeout(r, 500));
      nodes = (await core.listNode()).items;
    }
    const zones = nodes
      .filter((n) => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
      .map((n) => n.metadata?.labels?.["topology.kubernetes.io/zone"])
      .sort();
    assert.deepEqual(zones, ["zone-a", "zone-b", "zone-c"]);
    for (const n of nodes) {
      assert.equal(n.metadata?.labels?.type, "kwok");
      assert.equal(n.metadata?.labels?.["kubernetes.io/os"], "linux");
      assert.equal(n.status?.allocatable?.cpu, "32");
      assert.deepEqual(n.spec?.taints ?? [], []);
    }
  });

  it("takes a zone-spread 3-replica Deployment to 3/3 Ready, one pod per zone, and replaces a deleted pod", async () => {
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await until("the default service account", () =>
      core.readNamespacedServiceAccount({ name: "default", namespace: NS }),
    );
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment });
    await until("3/3 Ready", async () => {
      const d = await apps.readNamespacedDeployment({ name: "spread", namespace: NS });
      return d.status?.readyReplicas === 3 && d.status?.availableReplicas === 3 ? d : undefined;
    });
    const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: "app=spread" })).items;
    assert.equal(pods.length, 3);
    const nodeZone = new Map(
      (await core.listNode()).items.map((n) => [n.metadata?.name, n.metadata?.labels?.["topology.kubernetes.io/zone"]]),
    );
    assert.deepEqual(pods.map((p) => nodeZone.get(p.spec?.nodeName)).sort(), ["zone-a", "zone-b", "zone-c"]);
    for (const p of pods) {
      assert.equal(p.status?.phase, "Running");
      assert.ok(p.status?.podIP, `pod ${p.metadata?.name} has no pod IP`);
      assert.equal(p.status?.containerStatuses?.[0]?.ready, true);
    }
    const victim = pods[0]?.metadata?.name ?? "";
    await core.deleteNamespacedPod({ name: victim, namespace: NS });
    await until("the deleted pod gone and a replacement Ready", async () => {
      const now = (await core.listNamespacedPod({ namespace: NS, labelSelector: "app=spread" })).items;
      const ready = now.filter((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
      return !now.some((p) => p.metadata?.name === victim) && ready.length === 3 ? true : undefined;
    });
  });

  it("runs a Job to completion", async () => {
    await batch.createNamespacedJob({
      namespace: NS,
      body: {
        metadata: { name: "once", namespace: NS },
        spec: {
          backoffLimit: 0,
          template: {
            spec: { restartPolicy: "Never", containers: [{ name: "once", image: "registry.example.com/im/once:1" }] },
          },
        },
      },
    });
    const job = await until("the Job to complete", async () => {
      const j = await batch.readNamespacedJob({ name: "once", namespace: NS });
      return j.status?.succeeded === 1 && j.status.conditions?.some((c) => c.type === "Complete" && c.status === "True")
        ? j
        : undefined;
    });
    assert.equal(job.status?.failed ?? 0, 0);
  });

  it("refuses a pod that breaks the restricted Pod Security level in a namespace that enforces it", async () => {
    const ns = "restricted";
    await core.createNamespace({
      body: { metadata: { name: ns, labels: { "pod-security.kubernetes.io/enforce": "restricted" } } },
    });
    await assert.rejects(
      core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: "root" },
          spec: { containers: [{ name: "c", image: "x", securityContext: { privileged: true } }] },
        },
      }),
      /forbidden|violates PodSecurity/i,
    );
  });

  it("a second up changes nothing and status reports the same processes", async () => {
    assert.ok(first);
    const again = await imctl(["cluster", "up", "--json"], env);
    assert.equal(again.exitCode, 0, again.stderr);
    const r = JSON.parse(again.stdout) as UpJson;
    assert.equal(r.alreadyRunning, true);
    assert.deepEqual(r.started, []);
    assert.deepEqual(
      r.components.map((c) => c.pid),
      first.components.map((c) => c.pid),
    );
    const st = await imctl(["cluster", "status", "--json"], env);
    assert.equal(st.exitCode, 0, st.stderr);
    const s = JSON.parse(st.stdout) as UpJson;
    assert.ok(s.healthy);
    assert.deepEqual(
      s.components.map((c) => [c.id, c.state]),
      [
        ["etcd", "running"],
        ["kube-apiserver", "running"],
        ["kube-controller-manager", "running"],
        ["kube-scheduler", "running"],
        ["kwok", "running"],
      ],
    );
    const logs = await imctl(["cluster", "logs", "kube-apiserver", "-n", "5"], env);
    assert.equal(logs.exitCode, 0);
    const bad = await imctl(["cluster", "logs", "kubelet"], env);
    assert.equal(bad.exitCode, 2);
    assert.match(bad.stderr, /component: got "kubelet"; allowed: etcd, kube-apiserver/);
  });

  it("up repairs a cluster whose component died: only that one starts again, on its recorded port", async () => {
    assert.ok(first);
    const kwok = first.components.find((c) => c.id === "kwok");
    assert.ok(kwok?.pid);
    process.kill(kwok.pid, "SIGKILL");
    await until("kwok gone", async () => (pidAlive(kwok.pid ?? 0) ? undefined : true), 10_000);
    const st = await imctl(["cluster", "status", "--json"], env);
    assert.equal(st.exitCode, 1);
    const r = await imctl(["cluster", "up", "--json"], env);
    assert.equal(r.exitCode, 0, r.stderr);
    const repaired = JSON.parse(r.stdout) as UpJson;
    assert.deepEqual(repaired.started, ["kwok"]);
    assert.equal(repaired.components.find((c) => c.id === "kwok")?.port, kwok.port);
    const newPid = repaired.components.find((c) => c.id === "kwok")?.pid;
    assert.ok(newPid && newPid !== kwok.pid);
    // Later checks look for the processes of the running cluster.
    first = repaired;
  });

  it("down without --yes refuses; down --yes leaves no process and no listening port; a second down is a no-op", async () => {
    assert.ok(first);
    const refused = await imctl(["cluster", "down"], env);
    assert.equal(refused.exitCode, 2);
    assert.match(refused.stderr, /pass --yes to confirm/);
    const down = await imctl(["cluster", "down", "--yes", "--json"], env);
    assert.equal(down.exitCode, 0, down.stderr);
    for (const c of first.components) {
      assert.ok(c.pid !== null && !pidAlive(c.pid), `${c.id} (pid ${c.pid}) still runs`);
      assert.ok(c.port !== null && (await portFree("127.0.0.1", c.port)), `port ${c.port} of ${c.id} still listens`);
    }
    const st = await imctl(["cluster", "status", "--json"], env);
    assert.equal(st.exitCode, 1);
    assert.equal((JSON.parse(st.stdout) as { exists: boolean }).exists, false);
    const again = await imctl(["cluster", "down", "--yes"], env);
    assert.equal(again.exitCode, 0);
    assert.match(again.stdout, /nothing to stop/);
  });
});
