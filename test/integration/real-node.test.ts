/**
 * The platform on Kubernetes with pods that really run: the embedded cluster with its real node (containerd + the
 * kubelet in namespaces of their own), the services' images built here without Docker, `imctl up` with the real
 * Pulumi engine, the k6 smoke scenario through the Gateway API route (Traefik) with a gateway pod deleted mid-run,
 * and a teardown that leaves no process, namespace, cgroup, mount or kernel setting behind. The data tier is the
 * local target's (Redis Cluster, Kafka, MariaDB on loopback), reached by the pods as a cloud cluster's pods reach
 * managed services.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { execa } from "execa";
import { ensureTools } from "../../base/install.mjs";
import { TOOLS } from "../../base/tools.mjs";
import { parse } from "yaml";
import { clusterLayout } from "../../cli/src/cluster/layout.ts";
import { TRAEFIK_CONTROLLER } from "../../cli/src/cluster/node/addons.ts";
import { KUBELET_SYSCTLS, REAL_NODE_NAME } from "../../cli/src/cluster/node/config.ts";
import { readState } from "../../cli/src/cluster/state.ts";
import { TOKEN_IN_URL_PATH } from "../../services/lib/protocol.ts";
import { json, startEmbedded, type EmbeddedContext } from "../helpers/embedded.ts";
import { imctl } from "../helpers/imctl.ts";
import { bandwidthSuite } from "./kubernetes/bandwidth.ts";
import { doctorSuite } from "./kubernetes/doctor.ts";
import { drillSuite } from "./kubernetes/drill.ts";
import { groupsSuite } from "./kubernetes/groups.ts";
import { rolloutSuite } from "./kubernetes/rollout.ts";

ensureTools(TOOLS.filter((t) => t.need === "test").map((t) => t.name));

interface StoredRoute {
  spec: { rules?: Array<{ matches?: unknown; filters?: unknown }> };
  status?: {
    parents?: Array<{ controllerName?: string; conditions?: Array<{ type: string; status: string }> }>;
  };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const v = await fn().catch((err: unknown) => void (last = err));
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last: ${String(last)})` : ""}`);
}

/** One GET to 127.0.0.1:`port` with these headers (the Host the routes answer for): status and body. */
function get(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, headers }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 101, body: "" });
    });
    req.on("error", reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path}: no answer in 10 s`)));
    req.end();
  });
}

const sysctls = () => KUBELET_SYSCTLS.map((s) => `${s.path}=${readFileSync(`/proc/sys/${s.path}`, "utf8").trim()}`);

describe("the platform on the embedded cluster's real node", { timeout: 3_600_000 }, () => {
  let ctx: EmbeddedContext & { down(): Promise<void> };
  let env: Record<string, string>;
  let stack: string;
  let kc: k8s.KubeConfig;
  const before_ = sysctls();

  before(async () => {
    ctx = await startEmbedded(12_000);
    ({ env, stack, kc } = ctx);
  });

  after(async () => {
    await ctx?.down();
  });

  it("runs a real node next to the simulated ones, without touching the machine's kernel settings", async () => {
    const st = json(await imctl(["cluster", "status", "--json"], env));
    const real = (st.nodes as Array<{ name: string; ready: boolean; zone: string }>).find(
      (n) => n.name === REAL_NODE_NAME,
    );
    assert.ok(real?.ready, JSON.stringify(st.nodes));
    assert.equal(st.healthy, true);
    assert.deepEqual(sysctls(), before_);
  });

  it("deploys the platform with the real engine: every service pod runs on the real node and is Ready", async () => {
    const r = await imctl(["up", "--stack", stack, "--yes", "--json"], env);
    assert.equal(r.exitCode, 0, r.stderr.slice(-4000));
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const pods = (await core.listNamespacedPod({ namespace: "im" })).items.filter((x) =>
      ["gateway", "message", "user-center"].includes(x.metadata?.labels?.["app.kubernetes.io/name"] ?? ""),
    );
    assert.ok(pods.length >= 6, `expected 2 pods of each service, got ${pods.map((x) => x.metadata?.name)}`);
    for (const pod of pods) {
      assert.equal(pod.spec?.nodeName, REAL_NODE_NAME, pod.metadata?.name);
      const ready = pod.status?.conditions?.find((c) => c.type === "Ready")?.status;
      assert.equal(ready, "True", `${pod.metadata?.name}: ${JSON.stringify(pod.status?.containerStatuses)}`);
    }
  });

  // The edge's refusal of `?token=` (infra/services/im-service.ts tokenRefusalRule) on the upstream standard-channel
  // CRDs this cluster installs, and Traefik as the controller: stored as rendered (nothing pruned or rejected),
  // accepted by Traefik, and a request with a token in its URL answered 400 through Traefik.
  it("refuses ?token= at the edge: the refusal routes stored as rendered, accepted by Traefik, 400 through it", async () => {
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    for (const [svc, path] of [
      ["gateway", "/ws"],
      ["user-center", "/v1"],
    ] as const) {
      const name = `${svc}-token-refusal`;
      const route = await until(`Traefik to accept HTTPRoute im/${name}`, async () => {
        const r = (await custom.getNamespacedCustomObject({
          group: "gateway.networking.k8s.io",
          version: "v1",
          plural: "httproutes",
          namespace: "im",
          name,
        })) as StoredRoute;
        const byTraefik = r.status?.parents?.find((x) => x.controllerName === TRAEFIK_CONTROLLER);
        const ok = (type: string) => byTraefik?.conditions?.some((c) => c.type === type && c.status === "True");
        return ok("Accepted") && ok("ResolvedRefs") ? r : undefined;
      });
      assert.deepEqual(
        route.spec.rules?.map((r) => [r.matches, r.filters]),
        [
          [
            [
              {
                path: { type: "PathPrefix", value: path },
                queryParams: [{ type: "RegularExpression", name: "token", value: ".*" }],
              },
            ],
            [
              {
                type: "URLRewrite",
                urlRewrite: { path: { type: "ReplaceFullPath", replaceFullPath: TOKEN_IN_URL_PATH } },
              },
            ],
          ],
        ],
      );
    }
    const port = readState(clusterLayout(ctx.p.stateDir).state)?.realNode?.ingressPort;
    const host = (parse(readFileSync(stack, "utf8")) as { kubernetes: { ingress: { host: string } } }).kubernetes
      .ingress.host;
    assert.ok(port, "the real node's ingress port in the cluster's state");
    const upgrade = { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13" };
    // A route's Accepted status is written when Traefik builds a configuration, which goes live after its provider
    // throttle: a request right after can still meet Traefik's own 404 (seen in CI for /ws). So, as Gateway API's
    // conformance suite does, the answer is awaited until it holds three times in a row (bounded), then asserted.
    for (const [path, headers] of [
      ["/v1/users/me?token=abc", {}],
      ["/ws?token=abc", { ...upgrade, "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" }],
    ] as const) {
      let r = { status: 0, body: "" };
      let inARow = 0;
      for (const deadline = Date.now() + 30_000; inARow < 3 && Date.now() < deadline;) {
        r = await get(port, path, { host, ...headers });
        inARow = r.status === 400 && /token_in_url/.test(r.body) ? inARow + 1 : 0;
        if (inARow < 3) await new Promise((resolve) => setTimeout(resolve, 500));
      }
      assert.equal(r.status, 400, `${path}: ${r.status} ${r.body.slice(0, 200)}`);
      assert.match(r.body, /token_in_url/, path);
    }
  });

  it("passes the smoke scenario through the Gateway API route (Traefik): nothing lost, every check passed", async () => {
    // Right after the deploy (cold pods and consumers, every process of both platforms on 2 shared cores) the p99 of
    // 60 messages is the slowest one or two: seen here 451 ms once. The 150 ms release bar is gated on the local
    // target (loadtest.test.ts); here the bound is 1 s, every other threshold as released.
    const args = ["loadtest", "run", "smoke", "--stack", stack, "--duration", "15s", "--max-p99", "1000", "--json"];
    const r = await imctl(args, env);
    const out = json(r);
    assert.equal(out.passed, true, `${JSON.stringify(out.failedThresholds)} ${JSON.stringify(out.figures)}`);
    assert.equal(out.figures.lost, 0);
    assert.equal(out.figures.received, out.figures.sent);
  });

  it("loses no acknowledged message when a gateway pod is deleted mid-run (clients reconnect to the other)", async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    // The latency bar is not what this measures: a reconnect costs a few hundred milliseconds by design.
    const args = ["loadtest", "run", "smoke", "--stack", stack, "--duration", "30s", "--max-p99", "10000", "--json"];
    const run = imctl(args, env);
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    const gateways = (
      await core.listNamespacedPod({ namespace: "im", labelSelector: "app.kubernetes.io/name=gateway" })
    ).items;
    const victim = gateways[0]?.metadata?.name;
    assert.ok(victim, "no gateway pod to delete");
    await core.deleteNamespacedPod({ name: victim, namespace: "im" });
    const out = json(await run);
    assert.equal(out.figures.lost, 0, JSON.stringify(out.figures));
    assert.ok(out.figures.sent > 0 && out.figures.received === out.figures.sent, JSON.stringify(out.figures));
    assert.ok(out.figures.reconnects >= 1, `the deleted pod's clients reconnected: ${JSON.stringify(out.figures)}`);
    assert.equal(out.passed, true, JSON.stringify(out.failedThresholds));
    const after = await core.listNamespacedPod({ namespace: "im", labelSelector: "app.kubernetes.io/name=gateway" });
    assert.ok(!after.items.some((x) => x.metadata?.name === victim && !x.metadata?.deletionTimestamp));
  });

  // The workflows on this platform, each leaving it healthy for the next (test/integration/kubernetes/). One suite
  // alone: --test-name-pattern "real node next|deploys the platform|<its test names>|tears everything down".
  doctorSuite(() => ctx);
  groupsSuite(() => ctx);
  drillSuite(() => ctx);
  rolloutSuite(() => ctx);
  bandwidthSuite(() => ctx);

  it("tears everything down: no node process, network namespace, cgroup, mount or kernel setting is left", async () => {
    const d = await imctl(["destroy", "--stack", stack, "--yes", "--json"], env);
    assert.equal(d.exitCode, 0, d.stderr.slice(-3000));
    const down = json(await imctl(["cluster", "down", "--yes", "--json"], env));
    assert.deepEqual(down.leftovers, []);
    assert.deepEqual(down.portsStillInUse, []);
    const netns = existsSync("/run/netns") ? readdirSync("/run/netns") : [];
    assert.deepEqual(
      netns.filter((n) => n.startsWith("imctl-") || n.startsWith("cni-")),
      [],
    );
    // The node's processes (the local platform's own keep running until its down).
    const ps = await execa("ps", ["-eo", "args"]);
    const node =
      /(^|\/)(containerd|containerd-shim-runc-v2|kubelet|kube-proxy|coredns|traefik|pause)( |$)|forward\.mjs/;
    assert.deepEqual(
      ps.stdout.split("\n").filter((l) => node.test(l)),
      [],
    );
    assert.deepEqual(sysctls(), before_);
  });
});
