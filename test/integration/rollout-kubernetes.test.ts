/**
 * The kubernetes canary track against a real kube-apiserver (with etcd), test-only tools installed on first use:
 * the patches imctl sends (strategic merge on Deployments, merge on the Ingress) are accepted by a real API server
 * through @kubernetes/client-node 1.3.0, and `imctl rollout start --target kubernetes` drives a rollout to
 * Promoted. No kubelet or controller-manager runs here, so the test plays the Deployment controller: it copies
 * each Deployment's spec into its status (observedGeneration, replicas ready) as a real cluster would once pods run.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa, type ResultPromise } from "execa";
import { ensureTools } from "../../base/install.mjs";
import { toolPath } from "../../base/tools.mjs";
import { portFree } from "../../base/ports.ts";
import {
  clientNodeApi,
  CANARY_WEIGHT_ANNOTATION,
  KubernetesCanaryTrack,
  PREVIOUS_IMAGE_ANNOTATION,
} from "../../cli/src/targets/kubernetes/rollout.ts";
import type { RolloutResult } from "../../cli/src/commands/rollout/index.ts";
import { imctl, tempDir } from "../helpers/imctl.ts";

// Test-only tools: `npm start` leaves them out, so a machine set up by it builds them here once (outside the suite's
// timeout: the first kube-apiserver build takes minutes).
ensureTools(["etcd", "kube-apiserver"]);

const NS = "im";
const dir = tempDir("kube");
const TOKEN = "imctl-test-admin-token";
let etcd: ResultPromise | undefined;
let apiserver: ResultPromise | undefined;
let kubeconfig = "";
let stopController = () => undefined as void;

async function freePort(from: number): Promise<number> {
  for (let p = from; p < from + 200; p++) if (await portFree("127.0.0.1", p)) return p;
  throw new Error(`no free port from ${from}`);
}

async function waitReady(port: number): Promise<void> {
  // The API server's serving certificate is self-signed: only this readiness probe skips its verification.
  const { Agent } = await import("undici");
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  for (let i = 0; i < 240; i++) {
    try {
      const res = await fetch(`https://127.0.0.1:${port}/readyz`, {
        headers: { authorization: `Bearer ${TOKEN}` },
        dispatcher,
      } as RequestInit);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("kube-apiserver not ready after 120 s");
}

const deployment = (name: string, track: string, replicas: number) => ({
  metadata: { name, namespace: NS, labels: { "app.kubernetes.io/name": "gateway", "im/track": track } },
  spec: {
    replicas,
    selector: { matchLabels: { "app.kubernetes.io/name": "gateway", "im/track": track } },
    template: {
      metadata: { labels: { "app.kubernetes.io/name": "gateway", "im/track": track } },
      spec: {
        containers: [
          {
            name: "gateway",
            image: "registry.example.com/im/gateway:1.0.0",
            env: [
              { name: "SERVICE_VERSION", value: "1.0.0" },
              { name: "PORT", value: "8080" },
            ],
          },
        ],
      },
    },
  },
});

describe("imctl rollout on a real Kubernetes API server", { timeout: 300_000 }, () => {
  before(async () => {
    const etcdPort = await freePort(23790);
    const peerPort = await freePort(etcdPort + 1);
    const apiPort = await freePort(26443);
    etcd = execa(
      toolPath("etcd"),
      [
        "--data-dir",
        join(dir, "etcd"),
        "--listen-client-urls",
        `http://127.0.0.1:${etcdPort}`,
        "--advertise-client-urls",
        `http://127.0.0.1:${etcdPort}`,
        "--listen-peer-urls",
        `http://127.0.0.1:${peerPort}`,
        "--initial-advertise-peer-urls",
        `http://127.0.0.1:${peerPort}`,
        "--initial-cluster",
        `default=http://127.0.0.1:${peerPort}`,
      ],
      { reject: false, all: true },
    );
    const { privateKey, publicKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
    writeFileSync(join(dir, "sa.key"), privateKey);
    writeFileSync(join(dir, "sa.pub"), publicKey);
    writeFileSync(join(dir, "tokens.csv"), `${TOKEN},admin,admin,system:masters\n`);
    apiserver = execa(
      toolPath("kube-apiserver"),
      [
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${apiPort}`,
        `--cert-dir=${join(dir, "certs")}`,
        `--token-auth-file=${join(dir, "tokens.csv")}`,
        "--authorization-mode=RBAC",
        `--service-account-key-file=${join(dir, "sa.pub")}`,
        `--service-account-signing-key-file=${join(dir, "sa.key")}`,
        "--service-account-issuer=https://kubernetes.default.svc",
        "--service-cluster-ip-range=10.96.0.0/24",
        "--enable-priority-and-fairness=false",
      ],
      { reject: false, all: true },
    );
    await waitReady(apiPort);
    kubeconfig = join(dir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          { name: "test", cluster: { server: `https://127.0.0.1:${apiPort}`, "insecure-skip-tls-verify": true } },
        ],
        users: [{ name: "admin", user: { token: TOKEN } }],
        contexts: [{ name: "test", context: { cluster: "test", user: "admin" } }],
        "current-context": "test",
      }),
    );
    process.env.KUBECONFIG = kubeconfig;
    const k8s = await import("@kubernetes/client-node");
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const net = kc.makeApiClient(k8s.NetworkingV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment("gateway-stable", "stable", 3) });
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment("gateway-canary", "canary", 0) });
    await net.createNamespacedIngress({
      namespace: NS,
      body: {
        metadata: {
          name: "gateway-canary",
          namespace: NS,
          annotations: { "nginx.ingress.kubernetes.io/canary": "true", [CANARY_WEIGHT_ANNOTATION]: "0" },
        },
        spec: {
          ingressClassName: "nginx",
          rules: [
            {
              host: "im.example.com",
              http: {
                paths: [
                  {
                    path: "/",
                    pathType: "Prefix",
                    backend: { service: { name: "gateway-canary", port: { number: 8080 } } },
                  },
                ],
              },
            },
          ],
        },
      },
    });
    // The Deployment controller's part: status follows spec.
    let running = true;
    stopController = () => {
      running = false;
    };
    void (async () => {
      while (running) {
        const list = await apps.listNamespacedDeployment({ namespace: NS }).catch(() => undefined);
        for (const d of list?.items ?? []) {
          const want = d.spec?.replicas ?? 0;
          const s = d.status;
          if (
            s?.observedGeneration === d.metadata?.generation &&
            (s?.replicas ?? 0) === want &&
            (s?.readyReplicas ?? 0) === want
          )
            continue;
          await apps
            .replaceNamespacedDeploymentStatus({
              name: d.metadata?.name ?? "",
              namespace: NS,
              body: {
                ...d,
                status: {
                  observedGeneration: d.metadata?.generation,
                  replicas: want,
                  readyReplicas: want,
                  updatedReplicas: want,
                  availableReplicas: want,
                },
              },
            })
            .catch(() => undefined);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
  });

  after(async () => {
    stopController();
    apiserver?.kill("SIGTERM");
    await apiserver?.catch(() => undefined);
    etcd?.kill("SIGTERM");
    await etcd?.catch(() => undefined);
  });

  it("deploy, weight, promote and undo are accepted by the API server and leave the objects as intended", async () => {
    const api = await clientNodeApi();
    const t = new KubernetesCanaryTrack(api, { namespace: NS, pollMs: 200, timeoutMs: 60_000 });
    await t.preflight("gateway");
    await t.deploy("gateway", { version: "1.1.0", env: { GATEWAY_FAULT_LATENCY_MS: "0" } }, 1, () => undefined);
    const canary = await api.readDeployment(NS, "gateway-canary", "gateway");
    assert.equal(canary?.image, "registry.example.com/im/gateway:1.1.0");
    assert.equal(canary?.env.SERVICE_VERSION, "1.1.0");
    assert.equal(canary?.env.PORT, "8080", "the strategic merge keeps the other variables");
    assert.equal(canary?.replicas, 1);
    await t.setWeight("gateway", 30);
    assert.equal((await api.readIngressAnnotations(NS, "gateway-canary"))?.[CANARY_WEIGHT_ANNOTATION], "30");
    assert.deepEqual(await t.status("gateway"), {
      stableVersion: "1.0.0",
      version: "1.1.0",
      replicas: 1,
      ready: 1,
      weight: 30,
    });
    await t.promote("gateway", () => undefined);
    const stable = await api.readDeployment(NS, "gateway-stable", "gateway");
    assert.equal(stable?.image, "registry.example.com/im/gateway:1.1.0");
    assert.equal(stable?.annotations[PREVIOUS_IMAGE_ANNOTATION], "registry.example.com/im/gateway:1.0.0|1.0.0");
    assert.equal((await api.readDeployment(NS, "gateway-canary", "gateway"))?.replicas, 0);
    assert.equal((await api.readIngressAnnotations(NS, "gateway-canary"))?.[CANARY_WEIGHT_ANNOTATION], "0");
    const back = await t.undo("gateway", () => undefined);
    assert.equal(back.version, "1.0.0");
    assert.equal(
      (await api.readDeployment(NS, "gateway-stable", "gateway"))?.image,
      "registry.example.com/im/gateway:1.0.0",
    );
  });

  it("imctl rollout start --target kubernetes runs a rollout to Promoted, and a missing Deployment is refused before anything changes", async () => {
    const strategy = join(dir, "strategy.json");
    writeFileSync(strategy, JSON.stringify({ steps: [{ setWeight: 50 }, { setWeight: 100 }] }));
    const env = { KUBECONFIG: kubeconfig, IMCTL_STATE_DIR: join(dir, "state") };
    const common = [
      "--target",
      "kubernetes",
      "--stack",
      "aws-prod",
      "--namespace",
      NS,
      "--prometheus",
      "http://127.0.0.1:1",
    ];
    const r = await imctl(
      ["rollout", "start", "gateway", "--version", "1.2.0", "--strategy", strategy, ...common, "--json"],
      env,
    );
    assert.equal(r.exitCode, 0, r.stderr);
    const res = JSON.parse(r.stdout) as RolloutResult;
    assert.equal(res.phase, "Promoted");
    assert.equal(res.stableVersion, "1.2.0");
    const missing = await imctl(["rollout", "start", "user-center", "--version", "1.2.0", ...common], env);
    assert.equal(missing.exitCode, 2);
    assert.equal(
      missing.stderr.trim(),
      "imctl: deployment im/user-center-stable not found: is the stack deployed (pulumi up) and --namespace right?",
    );
    assert.ok(!existsSync(join(dir, "state", "kubernetes", "aws-prod", "rollouts", "user-center.json")));
  });
});
