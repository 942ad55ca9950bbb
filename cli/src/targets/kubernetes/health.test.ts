import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type {
  V1ContainerStatus,
  V1Deployment,
  V1Node,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodDisruptionBudget,
  V1Secret,
  V1StatefulSet,
  V2HorizontalPodAutoscaler,
} from "@kubernetes/client-node";
import { certificates, healthChecks } from "../../commands/doctor/checks.ts";
import { doctorOn, renderDoctor } from "../../commands/doctor/index.ts";
import { MESSAGES } from "../../commands/doctor/messages.ts";
import { KubernetesHealth, type ClusterReader } from "./health.ts";
import { hpaCheck, nodeChecks, pdbCheck, podChecks, podOwner, pvcChecks, secretCertificate } from "./health-checks.ts";

const NOW = new Date("2026-12-06T02:00:00Z");
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000);

const deployment = (name: string, desired: number, ready: number, o: { ns?: string; observed?: number } = {}) =>
  ({
    metadata: { namespace: o.ns ?? "im", name, generation: 2 },
    spec: { replicas: desired, selector: {}, template: {} },
    status: { observedGeneration: o.observed ?? 2, replicas: desired, readyReplicas: ready, updatedReplicas: desired },
  }) satisfies V1Deployment;

const statefulSet = (name: string, desired: number, ready: number): V1StatefulSet => ({
  metadata: { namespace: "im-data", name, generation: 1 },
  spec: { replicas: desired, selector: {}, template: {}, serviceName: name },
  status: { observedGeneration: 1, replicas: desired, readyReplicas: ready, currentRevision: "a", updateRevision: "a" },
});

const container = (name: string, o: Partial<V1ContainerStatus> = {}): V1ContainerStatus => ({
  name,
  image: `imctl.local/${name}:1`,
  imageID: "",
  ready: true,
  restartCount: 0,
  state: { running: { startedAt: ago(3600) } },
  ...o,
});

/** A pod of Deployment `deploy` (through its ReplicaSet `<deploy>-5d8f7c`). */
const pod = (
  deploy: string,
  suffix: string,
  o: Partial<NonNullable<V1Pod["status"]>> = {},
  created = ago(3600),
): V1Pod => ({
  metadata: {
    namespace: "im",
    name: `${deploy}-5d8f7c-${suffix}`,
    creationTimestamp: created,
    labels: { "pod-template-hash": "5d8f7c" },
    ownerReferences: [
      { apiVersion: "apps/v1", kind: "ReplicaSet", name: `${deploy}-5d8f7c`, uid: "u", controller: true },
    ],
  },
  spec: { containers: [], nodeName: "im-node-real" },
  status: { phase: "Running", containerStatuses: [container(deploy.split("-")[0] ?? "c")], ...o },
});

const pdb = (name: string, allowed: number, desired: number): V1PodDisruptionBudget => ({
  metadata: { namespace: "im", name },
  status: { disruptionsAllowed: allowed, desiredHealthy: desired, currentHealthy: 2, expectedPods: 2 },
});

const hpa = (name: string, conditions: NonNullable<V2HorizontalPodAutoscaler["status"]>["conditions"], current = 2) =>
  ({
    metadata: { namespace: "im", name },
    spec: { minReplicas: 2, maxReplicas: 4, scaleTargetRef: { kind: "Deployment", name: `${name}-stable` } },
    status: { currentReplicas: current, desiredReplicas: current, conditions },
  }) satisfies V2HorizontalPodAutoscaler;

const NO_METRICS =
  "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource " +
  "cpu: unable to fetch metrics from resource metrics API: the server could not find the requested resource (get " +
  "pods.metrics.k8s.io)";

const node = (name: string, ready: string, o: { pressure?: string; cordoned?: boolean } = {}): V1Node => ({
  metadata: { name },
  spec: { unschedulable: o.cordoned },
  status: {
    conditions: [
      { type: "Ready", status: ready, reason: ready === "True" ? "KubeletReady" : "NodeStatusUnknown" },
      ...["MemoryPressure", "DiskPressure", "PIDPressure"].map((type) => ({
        type,
        status: o.pressure === type ? "True" : "False",
      })),
    ],
  },
});

const pvc = (name: string, phase: string): V1PersistentVolumeClaim => ({
  metadata: { namespace: "im-data", name },
  spec: { resources: { requests: { storage: "10Gi" } } },
  status: { phase, capacity: phase === "Bound" ? { storage: "10Gi" } : undefined },
});

function certSecret(days: number): V1Secret {
  const dir = mkdtempSync(join(tmpdir(), "im-k8s-cert-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        String(days),
      ].concat(["-subj", "/CN=im.test", "-keyout", join(dir, "k"), "-out", join(dir, "c")]),
      { stdio: "ignore" },
    );
    const crt = readFileSync(join(dir, "c")).toString("base64");
    return { metadata: { namespace: "im", name: "im-tls" }, type: "kubernetes.io/tls", data: { "tls.crt": crt } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The healthy platform: both tracks of a service (the canary at rest), its PDB and HPA, Ready nodes. */
function healthyCluster() {
  return {
    namespaces: {
      im: { "app.kubernetes.io/part-of": "im-platform" },
      "im-data": { "app.kubernetes.io/part-of": "im-platform" },
    } as Record<string, Record<string, string>>,
    deployments: [deployment("gateway-stable", 2, 2), deployment("gateway-canary", 0, 0)],
    statefulSets: [statefulSet("redis-cluster", 3, 3)],
    pods: [pod("gateway-stable", "a"), pod("gateway-stable", "b")],
    pdbs: [pdb("gateway", 1, 1)],
    hpas: [
      hpa("gateway", [
        { type: "AbleToScale", status: "True", reason: "SucceededGetScale" },
        { type: "ScalingActive", status: "True", reason: "ValidMetricFound" },
      ]),
    ],
    pvcs: [pvc("data-redis-cluster-0", "Bound")],
    secrets: [] as V1Secret[],
    nodes: [node("kwok-zone-a", "True"), node("im-node-real", "True")],
  };
}

type Cluster = ReturnType<typeof healthyCluster>;

function reader(c: Cluster): ClusterReader {
  const inNs =
    <T extends { metadata?: { namespace?: string } }>(items: T[]) =>
    async (ns: string) =>
      items.filter((i) => (i.metadata?.namespace ?? "im") === ns);
  return {
    namespaceLabels: async (name) => c.namespaces[name] ?? null,
    listDeployments: inNs(c.deployments),
    listStatefulSets: inNs(c.statefulSets),
    listPods: inNs(c.pods),
    listPdbs: inNs(c.pdbs),
    listHpas: inNs(c.hpas),
    listPvcs: inNs(c.pvcs),
    listTlsSecrets: inNs(c.secrets),
    listNodes: async () => c.nodes,
  };
}

const doctorOf = (c: Cluster, prometheus: null = null) =>
  doctorOn(new KubernetesHealth(reader(c), "im", prometheus, () => NOW), "embedded-cluster.yaml");

describe("doctor on kubernetes", () => {
  it("a healthy platform: every row ok or info, and the namespaces it looked at", async () => {
    const r = await doctorOf(healthyCluster());
    const notOk = r.checks.filter((c) => c.status !== "ok" && c.status !== "info");
    assert.deepEqual(notOk, []);
    assert.equal(r.healthy, true);
    assert.deepEqual(
      r.checks.filter((c) => c.area === "component").map((c) => [c.name, c.detail]),
      [
        ["im-data/redis-cluster", "3/3 ready"],
        ["im/gateway-canary", "0 desired (scaled to zero)"],
        ["im/gateway-stable", "2/2 ready, 2 updated"],
      ],
    );
    assert.match(r.checks.find((c) => c.name === "namespaces")?.detail ?? "", /^checked im, im-data /);
    assert.ok(r.checks.some((c) => c.name === "pvc im-data/data-redis-cluster-0" && c.status === "ok"));
    assert.deepEqual(r.checks.find((c) => c.name === "disk-free")?.status, "info");
  });

  it("looks only at the shared namespaces that carry the platform's label", async () => {
    const c = healthyCluster();
    c.namespaces = { im: {}, "im-data": {}, monitoring: { "app.kubernetes.io/part-of": "im-platform" } };
    c.deployments.push(deployment("grafana", 1, 0, { ns: "monitoring" }), deployment("redis", 1, 0, { ns: "im-data" }));
    const r = await doctorOf(c);
    assert.deepEqual(r.failing, ["monitoring/grafana"]);
  });

  it("fails a stack whose namespace holds no Deployment, or does not exist (nothing to see is not green)", async () => {
    const c = healthyCluster();
    c.deployments = c.deployments.filter((d) => d.metadata.namespace !== "im");
    assert.deepEqual((await doctorOf(c)).failing, ["namespace im"]);
    const { im: _, ...rest } = c.namespaces;
    const r = await doctorOf({ ...c, namespaces: rest });
    assert.match(
      r.checks.find((x) => x.name === "namespace im")?.detail ?? "",
      /^not found \(or not readable\): the platform/,
    );
  });

  it("fails a Deployment below its desired Ready count, naming it and its numbers", async () => {
    const c = healthyCluster();
    c.deployments[0] = deployment("gateway-stable", 2, 1);
    const r = await doctorOf(c);
    assert.equal(r.healthy, false);
    assert.deepEqual(r.failing, ["im/gateway-stable"]);
    assert.equal(r.checks.find((x) => x.name === "im/gateway-stable")?.detail, "1/2 ready, 2 updated");
    const behind = await doctorOf({ ...c, deployments: [deployment("message-stable", 2, 2, { observed: 1 })] });
    const row = behind.checks.find((x) => x.name === "im/message-stable");
    assert.equal(row?.detail, "2/2 ready, 2 updated, generation 2 not yet observed (controller at 1)");
    assert.equal(row?.status, "fail");
  });

  it("fails CrashLoopBackOff and ErrImageNeverPull naming the pod and its Deployment", async () => {
    const c = healthyCluster();
    const stuck = (reason: string, message?: string) => ({ state: { waiting: { reason, message } }, ready: false });
    c.pods.push(
      pod("message-stable", "x", {
        containerStatuses: [container("message", { ...stuck("CrashLoopBackOff"), restartCount: 7 })],
      }),
      pod("gateway-canary", "y", {
        phase: "Pending",
        containerStatuses: [
          container(
            "gateway",
            stuck(
              "ErrImageNeverPull",
              'Container image "imctl.local/does-not-exist:0" is not present with pull policy of Never',
            ),
          ),
        ],
      }),
    );
    const r = await doctorOf(c);
    assert.deepEqual(r.failing, ["pod im/gateway-canary-5d8f7c-y", "pod im/message-stable-5d8f7c-x"]);
    const detail = (n: string) => r.checks.find((x) => x.name === n)?.detail ?? "";
    assert.equal(
      detail("pod im/message-stable-5d8f7c-x"),
      "Deployment im/message-stable: container message CrashLoopBackOff, 7 restart(s)",
    );
    assert.match(
      detail("pod im/gateway-canary-5d8f7c-y"),
      /^Deployment im\/gateway-canary: container gateway ErrImageNeverPull \(Container image "imctl.local\/does-not-exist:0"/,
    );
  });

  it("fails a pod Pending for 2 minutes with the scheduler's words; a younger one is not reported yet", async () => {
    const message = "0/4 nodes are available: 1 Insufficient cpu, 3 node(s) didn't match Pod's node affinity/selector.";
    const unscheduled = (suffix: string, age: number) =>
      pod(
        "gateway-stable",
        suffix,
        {
          phase: "Pending",
          containerStatuses: [],
          conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message }],
        },
        ago(age),
      );
    const rows = podChecks([unscheduled("old", 120), unscheduled("new", 30)], NOW);
    assert.deepEqual(rows, [
      {
        name: "pod im/gateway-stable-5d8f7c-old",
        ok: false,
        detail: `Deployment im/gateway-stable: Pending for 2 min, not scheduled (Unschedulable: ${message})`,
      },
    ]);
  });

  it("warns on a recent restart and skips finished or terminating pods", () => {
    const restarted = pod("gateway-stable", "r", {
      containerStatuses: [
        container("gateway", {
          restartCount: 1,
          lastState: { terminated: { exitCode: 137, reason: "OOMKilled", finishedAt: ago(90) } },
        }),
      ],
    });
    const done = pod("migrate", "j", {
      phase: "Succeeded",
      containerStatuses: [container("m", { state: { waiting: { reason: "CrashLoopBackOff" } } })],
    });
    const rows = podChecks([restarted, done], NOW);
    assert.deepEqual(
      rows.map((r) => [r.ok, r.note, r.detail]),
      [
        [
          true,
          "warn",
          "Deployment im/gateway-stable: container gateway restarted 1 time(s), last 90 s ago (exit code 137, OOMKilled)",
        ],
      ],
    );
    assert.equal(
      podOwner({
        metadata: {
          namespace: "im-data",
          ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "redis-cluster", uid: "u" }],
        },
      }),
      "StatefulSet im-data/redis-cluster",
    );
  });

  it("fails a PodDisruptionBudget that allows no disruption (a drain would block), unless it requires none", () => {
    assert.deepEqual(pdbCheck(pdb("gateway", 0, 2)), {
      name: "pdb im/gateway",
      ok: false,
      detail:
        "0 disruption(s) allowed, 2/2 pod(s) healthy, 2 required: allows no disruption, so a node drain blocks on it",
    });
    assert.equal(pdbCheck(pdb("gateway", 1, 1)).ok, true);
    assert.equal(pdbCheck(pdb("gateway", 0, 0)).ok, true);
  });

  it("warns on an HPA without a metrics API, fails any other inability to scale, warns at the maximum", async () => {
    const noMetrics = hpaCheck(
      hpa("gateway", [
        { type: "ScalingActive", status: "False", reason: "FailedGetResourceMetric", message: NO_METRICS },
      ]),
    );
    assert.deepEqual([noMetrics.ok, noMetrics.note], [true, "warn"]);
    assert.equal(
      noMetrics.detail,
      "2 replica(s) of Deployment gateway-stable (min 2, max 4): cannot read resource metrics (is metrics-server " +
        "installed?), so it does not scale (ScalingActive=False FailedGetResourceMetric)",
    );
    const missingRequest = hpaCheck(
      hpa("gateway", [
        {
          type: "ScalingActive",
          status: "False",
          reason: "FailedGetResourceMetric",
          message: "failed to get cpu utilization: missing request for cpu in container gateway",
        },
      ]),
    );
    assert.equal(missingRequest.ok, false);
    assert.match(
      missingRequest.detail,
      /ScalingActive=False FailedGetResourceMetric: failed to get cpu utilization: missing request/,
    );
    const cannot = hpaCheck(
      hpa("gateway", [
        { type: "AbleToScale", status: "False", reason: "FailedGetScale", message: "deployments/scale not found" },
      ]),
    );
    assert.equal(cannot.ok, false);
    assert.equal(hpaCheck(hpa("gateway", [], 4)).note, "warn");
    const c = healthyCluster();
    c.hpas = [
      hpa("gateway", [
        { type: "ScalingActive", status: "False", reason: "FailedGetResourceMetric", message: NO_METRICS },
      ]),
    ];
    const r = await doctorOf(c);
    assert.equal(r.healthy, true, "no metrics-server is a warning, not a failure");
    assert.deepEqual(r.warnings, ["hpa im/gateway"]);
  });

  it("fails a NotReady node, warns on pressure and a cordon", () => {
    const rows = nodeChecks([
      node("a", "Unknown"),
      node("b", "True", { pressure: "DiskPressure" }),
      node("c", "True", { cordoned: true }),
      node("d", "True"),
    ]);
    assert.deepEqual(
      rows.map((r) => [r.name, r.ok, r.note]),
      [
        ["node a", false, undefined],
        ["node b", true, "warn"],
        ["node c", true, "warn"],
        ["node d", true, undefined],
      ],
    );
    assert.equal(rows[0]?.detail, "NotReady (Ready=Unknown NodeStatusUnknown)");
    assert.equal(rows[1]?.detail, "Ready, DiskPressure");
    assert.equal(nodeChecks([])[0]?.ok, false);
  });

  it("judges volume claims: Bound ok, Pending warns, Lost fails", () => {
    assert.deepEqual(
      pvcChecks([pvc("a", "Bound"), pvc("b", "Pending"), pvc("c", "Lost")]).map((r) => [r.ok, r.note]),
      [
        [true, undefined],
        [true, "warn"],
        [false, undefined],
      ],
    );
  });

  it("fails a certificate in a TLS Secret that expires in 5 days, with the doctor's own thresholds", async () => {
    const secret = certSecret(5);
    const fact = secretCertificate(secret);
    assert.equal(fact.endpoint, "secret im/im-tls");
    const [row] = certificates("kubernetes", [fact], new Date());
    assert.equal(row?.status, "fail");
    assert.match(row?.detail ?? "", /\((4|5) day\(s\)\)$/);
    assert.equal(secretCertificate({ ...secret, data: { "tls.crt": "bm90IGEgY2VydA==" } }).validTo, undefined);
    const c = healthyCluster();
    c.secrets = [secret];
    const r = await doctorOn(new KubernetesHealth(reader(c), "im", null), "x.yaml");
    assert.deepEqual(r.failing, ["certificate secret im/im-tls"]);
  });

  it("without a Prometheus: one info row, never a failure", async () => {
    const r = await doctorOf(healthyCluster());
    assert.deepEqual(
      r.checks.filter((c) => c.area === "metrics"),
      [{ area: "metrics", name: "prometheus", status: "info", detail: MESSAGES.noPrometheus }],
    );
  });

  it("an unreadable cluster is one failing row naming why", async () => {
    const broken: ClusterReader = {
      ...reader(healthyCluster()),
      listNodes: async () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:24100")),
    };
    const r = await doctorOn(new KubernetesHealth(broken, "im", null), "x.yaml");
    assert.match(renderDoctor(r), /the cluster's API server did not answer: check the stack's cluster.kubeconfig/);
    const h = await new KubernetesHealth(broken, "im", null).health();
    assert.deepEqual(healthChecks(h), [
      {
        area: "component",
        name: "kubernetes-api",
        status: "fail",
        detail: "cannot read nodes from the API server: connect ECONNREFUSED 127.0.0.1:24100",
      },
    ]);
  });
});
