import { TOKEN_IN_URL_PATH as SERVICES_TOKEN_IN_URL_PATH } from "../../services/lib/protocol.ts";
import { TOKEN_IN_URL_PATH } from "../services/im-service.ts";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { REPO_ROOT } from "../../base/root.mjs";
import { deriveSecret, SEED_TOO_SHORT } from "../lib/derived-secrets.ts";
import { decodeSecretData } from "./secret-data.ts";
import {
  loadSpec,
  requireKubernetes,
  type ExistingClusterPlatformSpec,
  type KubernetesPlatformSpec,
} from "../lib/spec.ts";
import { ofType, one, runWithMocks, type RecordedResource } from "../mocks.ts";
import { deployPlatform } from "../platform.ts";
import { evaluatePolicies } from "../policy/evaluate.ts";

const SEED = "0123456789abcdef0123456789abcdef-test-seed";
const OTHER_SEED = "fedcba9876543210fedcba9876543210-other-seed";
const fileStack = (): ExistingClusterPlatformSpec => {
  const spec: KubernetesPlatformSpec = requireKubernetes(
    loadSpec(join(REPO_ROOT, "stacks", "embedded-cluster.yaml")),
    "stacks/embedded-cluster.yaml",
  );
  if (spec.cluster === undefined) throw new Error("embedded-cluster has a cluster section");
  return { ...spec, cluster: spec.cluster };
};
/** The stack on a cluster that also has prometheus-operator (as the integration tests' cluster has its CRDs). */
const stack = (): ExistingClusterPlatformSpec => {
  const s = fileStack();
  return { ...s, cluster: { ...s.cluster, preinstalled: ["gateway-api", "prometheus-operator"] } };
};
const run = async (spec: KubernetesPlatformSpec, seed = SEED) =>
  (await runWithMocks(spec.name, () => deployPlatform(spec, { secretSeed: seed }))).resources;
const input = (r: RecordedResource, path: string): any => path.split(".").reduce<any>((v, k) => v?.[k], r.inputs);
const T = {
  namespace: "kubernetes:core/v1:Namespace",
  secret: "kubernetes:core/v1:Secret",
  deployment: "kubernetes:apps/v1:Deployment",
  hpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
  pdb: "kubernetes:policy/v1:PodDisruptionBudget",
  gateway: "kubernetes:gateway.networking.k8s.io/v1:Gateway",
  route: "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
  job: "kubernetes:batch/v1:Job",
  provider: "pulumi:providers:kubernetes",
} as const;
const RESTRICTED = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/audit": "restricted",
  "pod-security.kubernetes.io/warn": "restricted",
};
/** Every Secret's values, decoded from `data`, by resource name. */
const secretValues = (rs: RecordedResource[]): Record<string, Record<string, string>> =>
  Object.fromEntries(
    ofType(rs, T.secret).map((s) => [
      s.name,
      Object.fromEntries(
        Object.entries(input(s, "data") as Record<string, string>).map(([k, v]) => [k, decodeSecretData(v)]),
      ),
    ]),
  );

/** The custom resource kinds (group/version:Kind) a run created, and those no CRD in test/fixtures/crds defines. */
const customKinds = (rs: RecordedResource[]): { custom: string[]; undefinedKinds: string[] } => {
  const dir = join(REPO_ROOT, "test", "fixtures", "crds");
  const defined = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml")))
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), "utf8"))) {
      const crd = doc.toJSON() as { spec: { group: string; names: { kind: string }; versions: { name: string }[] } };
      for (const v of crd.spec.versions) defined.add(`${crd.spec.group}/${v.name}:${crd.spec.names.kind}`);
    }
  const builtIn = /^kubernetes:(core|apps|batch|policy|autoscaling|networking\.k8s\.io)\/v\d+:/;
  const custom = [
    ...new Set(
      rs.filter((r) => r.type.startsWith("kubernetes:") && !builtIn.test(r.type)).map((r) => r.type.slice(11)),
    ),
  ];
  return { custom, undefinedKinds: custom.filter((t) => !defined.has(t)) };
};

describe("existing-cluster stack (stacks/embedded-cluster.yaml)", () => {
  let rs: RecordedResource[];
  before(async () => {
    rs = await run(stack());
  });

  it("loads: cluster instead of clouds, gateway-api preinstalled, external data", () => {
    const s = fileStack();
    assert.deepEqual(s.clouds, {});
    assert.equal(s.cluster.context, "imctl-embedded");
    assert.deepEqual(s.cluster.zones, ["zone-a", "zone-b", "zone-c"]);
    assert.deepEqual(s.cluster.preinstalled, ["gateway-api"]);
    assert.equal(s.cluster.data.mode === "external" && s.cluster.data.database.port, 13306);
  });

  it("reaches the cluster through one provider: the stack's kubeconfig (from the repository root) and context, server-side apply", () => {
    const providers = ofType(rs, T.provider);
    assert.equal(providers.length, 1);
    const p = providers[0];
    assert.ok(p !== undefined);
    assert.equal(input(p, "kubeconfig"), join(REPO_ROOT, ".imctl/cluster/kubeconfig"));
    assert.equal(input(p, "context"), "imctl-embedded");
    assert.equal(String(input(p, "enableServerSideApply")), "true");
  });

  it("declares no cloud, random or docker-build resource", () => {
    const foreign = rs.filter((r) =>
      /^(aws|alicloud|random|docker-build)[:]|providers:(aws|alicloud|random)/.test(r.type),
    );
    assert.deepEqual(
      foreign.map((r) => r.type),
      [],
    );
  });

  it("labels every namespace it creates Pod Security restricted (enforce, audit, warn)", () => {
    const namespaces = ofType(rs, T.namespace);
    assert.deepEqual(namespaces.map((n) => input(n, "metadata.name")).sort(), ["im", "monitoring"]);
    for (const n of namespaces) {
      const labels = input(n, "metadata.labels");
      for (const [k, v] of Object.entries(RESTRICTED)) assert.equal(labels[k], v, `${n.name} ${k}`);
    }
    assert.equal(
      input(one(rs, T.namespace, "cluster-namespace"), "metadata.labels")["tags.im-platform.io/owner"],
      "platform-team",
    );
  });

  it("generates the Secrets the services and monitoring read, every value a Pulumi secret", () => {
    const secrets = ofType(rs, T.secret);
    assert.deepEqual(secrets.map((s) => `${input(s, "metadata.namespace")}/${input(s, "metadata.name")}`).sort(), [
      "im/im-database",
      "im/im-database-admin",
      "im/im-migrate-credentials",
      "im/im-platform-secrets",
      "monitoring/im-grafana-admin",
    ]);
    const platform = one(rs, T.secret, "cluster-platform-secrets");
    const values = secretValues(rs);
    const platformValues = values["cluster-platform-secrets"] ?? {};
    assert.deepEqual(Object.keys(platformValues).sort(), ["INTERNAL_TOKEN", "TOKEN_ACTIVE_KID", "TOKEN_KEYS"]);
    assert.equal(platformValues.INTERNAL_TOKEN, deriveSecret(SEED, "im-platform-secrets/INTERNAL_TOKEN"));
    assert.match(platformValues.TOKEN_KEYS ?? "", /^k1:[A-Za-z0-9_-]{43}$/);
    assert.equal(values["cluster-monitoring-grafana-admin"]?.["admin-user"], "admin");
    assert.equal(values["cluster-database-admin"]?.password, "");
    for (const s of [
      platform,
      one(rs, T.secret, "cluster-services-database"),
      one(rs, T.secret, "cluster-schema-credentials"),
      one(rs, T.secret, "cluster-database-admin"),
      one(rs, T.secret, "cluster-monitoring-grafana-admin"),
    ]) {
      assert.ok(
        s.secretPaths.some((p) => p.startsWith("data")) && input(s, "stringData") === undefined,
        `${s.name}: data is not a secret (${s.secretPaths.join(", ") || "no secret paths"})`,
      );
    }
    // The services' user and the Job's copy of its password are one value.
    assert.equal(values["cluster-services-database"]?.DB_PASSWORD, values["cluster-schema-credentials"]?.DB_PASSWORD);
    assert.equal(values["cluster-services-database"]?.DB_PASSWORD, deriveSecret(SEED, "im-database/DB_PASSWORD"));
  });

  it("derives the same secrets from the same seed and different ones from another seed", async () => {
    const again = await run(stack());
    assert.deepEqual(secretValues(again), secretValues(rs));
    const other = secretValues(await run(stack(), OTHER_SEED));
    const first = secretValues(rs);
    assert.notEqual(
      other["cluster-platform-secrets"]?.INTERNAL_TOKEN,
      first["cluster-platform-secrets"]?.INTERNAL_TOKEN,
    );
    assert.notEqual(other["cluster-services-database"]?.DB_PASSWORD, first["cluster-services-database"]?.DB_PASSWORD);
  });

  it("refuses a seed that is too short before declaring anything", () => {
    assert.throws(() => deployPlatform(stack(), { secretSeed: "short" }), { message: SEED_TOO_SHORT(5) });
  });

  it("runs the services at the stack's sizes, spread over the three zones, on the nodes the stack selects", () => {
    const stable = (svc: string) => one(rs, T.deployment, `cluster-services-${svc}-stable`);
    assert.deepEqual(
      ["gateway", "message", "user-center"].map((s) => input(stable(s), "spec.replicas")),
      [2, 2, 2],
    );
    const pod = input(stable("gateway"), "spec.template.spec");
    assert.deepEqual(pod.nodeSelector, { "imctl.im-platform.io/node": "real" });
    assert.equal(pod.topologySpreadConstraints[0].topologyKey, "topology.kubernetes.io/zone");
    // registry imctl.local: the real node's images; imctl passes their content-tagged references (imageRefs).
    assert.equal(pod.containers[0].image, "imctl.local/gateway:0.1.0");
    assert.ok(pod.containers[0].lifecycle.preStop);
    assert.ok(pod.containers[0].readinessProbe);
    assert.deepEqual(
      ofType(rs, T.hpa).map((h) => [input(h, "spec.minReplicas"), input(h, "spec.maxReplicas")]),
      [
        [2, 4],
        [2, 4],
        [2, 4],
      ],
    );
    assert.equal(ofType(rs, T.pdb).length, 3);
  });

  it("passes every policy, the restricted Pod Security level included", () => {
    const inputs = rs.filter((r) => r.custom).map((r) => ({ type: r.type, name: r.name, props: r.inputs, id: r.id }));
    assert.ok(ofType(rs, T.deployment).length >= 8);
    assert.deepEqual(evaluatePolicies(inputs), []);
  });

  it("routes /ws and /v1 through a Gateway of the stack's class, split stable/canary by weight", () => {
    const gw = one(rs, T.gateway, "cluster-gateway-gateway");
    assert.equal(input(gw, "spec.gatewayClassName"), "im-gateway");
    assert.deepEqual(input(gw, "metadata"), {
      name: "im-gateway",
      namespace: "im",
      labels: { "app.kubernetes.io/part-of": "im-platform" },
    });
    const routes = ofType(rs, T.route).filter((r) => !input(r, "metadata.name").endsWith("-token-refusal"));
    assert.deepEqual(
      routes.map((r) => [
        input(r, "metadata.name"),
        input(r, "spec.hostnames"),
        input(r, "spec.rules.0.matches.0.path.value"),
        input(r, "spec.rules.0.backendRefs").map((b: any) => `${b.name}:${b.port}@${b.weight}`),
        input(r, "spec.parentRefs.0.name"),
      ]),
      [
        ["gateway", ["im.embedded.example.com"], "/ws", ["gateway:8080@100", "gateway-canary:8080@0"], "im-gateway"],
        [
          "user-center",
          ["im.embedded.example.com"],
          "/v1",
          ["user-center:8080@100", "user-center-canary:8080@0"],
          "im-gateway",
        ],
      ],
    );
    assert.equal(ofType(rs, "kubernetes:networking.k8s.io/v1:Ingress").length, 0);
  });

  it("answers ?token= with 400 at the edge: a route per path that matches the parameter, rewritten to the refusal", () => {
    assert.equal(TOKEN_IN_URL_PATH, SERVICES_TOKEN_IN_URL_PATH, "the path the services answer 400 on");
    for (const [svc, path] of [
      ["gateway", "/ws"],
      ["user-center", "/v1"],
    ] as const) {
      const r = ofType(rs, T.route).find((x) => input(x, "metadata.name") === `${svc}-token-refusal`);
      assert.ok(r, `${svc}-token-refusal`);
      assert.deepEqual(input(r, "spec.hostnames"), ["im.embedded.example.com"]);
      assert.equal(input(r, "spec.parentRefs.0.name"), "im-gateway");
      assert.deepEqual(input(r, "spec.rules"), [
        {
          matches: [
            {
              path: { type: "PathPrefix", value: path },
              queryParams: [{ type: "RegularExpression", name: "token", value: ".*" }],
            },
          ],
          filters: [
            {
              type: "URLRewrite",
              urlRewrite: { path: { type: "ReplaceFullPath", replaceFullPath: "/edge/token-in-url" } },
            },
          ],
          // The stable Service only: a rollout's weights (the split rule of the service's own route) never move it.
          backendRefs: [{ name: svc, port: 8080 }],
        },
      ]);
    }
  });

  it("routes only to Ready pods: /readyz every 2 s, out after 3 failures (a second of shedding is not enough)", () => {
    for (const svc of ["gateway", "message", "user-center"])
      for (const track of ["stable", "canary"]) {
        const d = ofType(rs, "kubernetes:apps/v1:Deployment").find(
          (x) => input(x, "metadata.name") === `${svc}-${track}`,
        );
        assert.ok(d, `${svc}-${track}`);
        const probe = input(d, "spec.template.spec.containers.0.readinessProbe");
        assert.deepEqual(
          [probe.httpGet.path, probe.periodSeconds, probe.failureThreshold],
          ["/readyz", 2, 3],
          `${svc}-${track}`,
        );
      }
  });

  it("runs the images imctl names by reference (the real node's content-tagged ones), Job and services alike", async () => {
    const imageRefs = {
      gateway: "imctl.local/gateway:0123456789ab",
      message: "imctl.local/message:0123456789ab",
      userCenter: "imctl.local/user-center:0123456789ab",
    };
    const refs = (
      await runWithMocks("embedded-cluster", () => deployPlatform(stack(), { secretSeed: SEED, imageRefs }))
    ).resources;
    const image = (name: string, type: string = T.deployment) =>
      input(one(refs, type, name), "spec.template.spec.containers.0.image");
    assert.equal(image("cluster-services-gateway-stable"), imageRefs.gateway);
    assert.equal(image("cluster-services-user-center-stable"), imageRefs.userCenter);
    assert.equal(image("cluster-schema", T.job), imageRefs.message);
  });

  it("migrates the external database with the message image before the services roll", () => {
    const job = one(rs, T.job, "cluster-schema");
    const env = Object.fromEntries(
      input(job, "spec.template.spec.containers.0.env").map((e: any) => [e.name, e.value ?? e.valueFrom]),
    );
    assert.equal(input(job, "metadata.namespace"), "im");
    assert.equal(input(job, "spec.template.spec.containers.0.image"), "imctl.local/message:0.1.0");
    // On the nodes the services run on (a simulated node would only pretend to run it).
    assert.deepEqual(input(job, "spec.template.spec.nodeSelector"), { "imctl.im-platform.io/node": "real" });
    assert.equal(env.DB_HOST, "127.0.0.1");
    assert.equal(env.DB_PORT, "13306");
    assert.equal(env.ROOT_USER, "root");
    assert.deepEqual(env.ROOT_PASSWORD, { secretKeyRef: { name: "im-database-admin", key: "password" } });
    const message = one(rs, T.deployment, "cluster-services-message-stable");
    const menv = Object.fromEntries(
      input(message, "spec.template.spec.containers.0.env").map((e: any) => [e.name, e.value ?? e.valueFrom]),
    );
    assert.equal(menv.REDIS_NODES, "127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003");
    assert.equal(menv.KAFKA_BROKERS, "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094");
  });

  it("creates the operator's objects only for a preinstalled prometheus-operator, and never the chart", async () => {
    assert.ok(rs.some((r) => r.type === "kubernetes:monitoring.coreos.com/v1:PrometheusRule"));
    assert.equal(ofType(rs, "kubernetes:helm.sh/v3:Release").length, 0);
    const bare = await run(fileStack());
    assert.deepEqual(
      bare.filter((r) => r.type.includes("monitoring.coreos.com")).map((r) => r.type),
      [],
    );
    assert.deepEqual(
      ofType(bare, T.namespace).map((n) => input(n, "metadata.name")),
      ["im"],
    );
  });

  it("creates only custom resources whose CRDs test/fixtures/crds defines (what the integration tests install)", () => {
    const { custom, undefinedKinds } = customKinds(rs);
    assert.ok(custom.length >= 4);
    assert.deepEqual(undefinedKinds, []);
  });

  it("puts every pod on the nodes the stack selects and tolerates their taints", async () => {
    const s = stack();
    const kwok = { key: "kwok.x-k8s.io/node", operator: "Exists" as const };
    const placed = await run({
      ...s,
      cluster: { ...s.cluster, nodeSelector: { "im/tier": "app" }, tolerations: [kwok] },
    });
    const pods = [...ofType(placed, T.deployment), ...ofType(placed, T.job)].map((w) => [
      w.name,
      input(w, "spec.template.spec.tolerations"),
    ]);
    assert.ok(pods.length >= 9);
    for (const [name, tolerations] of pods) assert.deepEqual(tolerations, [kwok], name);
    for (const d of ofType(placed, T.deployment))
      assert.deepEqual(input(d, "spec.template.spec.nodeSelector"), { "im/tier": "app" }, d.name);
  });
});

describe("existing-cluster stack with an in-cluster data tier (preinstalled Strimzi and TiDB Operator)", () => {
  const DATA_NODE = { "im/tier": "data" };
  const DATA_TAINT = { key: "im/tier", operator: "Equal" as const, value: "data", effect: "NoSchedule" as const };
  const inCluster = (backup = false): ExistingClusterPlatformSpec => {
    const s = stack();
    return {
      ...s,
      cluster: {
        ...s.cluster,
        preinstalled: ["gateway-api", "prometheus-operator", "strimzi", "tidb-operator"],
        data: {
          mode: "in-cluster",
          storageClass: "fast-ssd",
          nodeSelector: DATA_NODE,
          tolerations: [DATA_TAINT],
          redisStorageGb: 10,
          kafkaStorageGb: 30,
          tidb: { pd: 3, tikv: 3, tidb: 2, storageGb: 40 },
          ...(backup
            ? {
                backup: {
                  bucket: "im-backups",
                  endpoint: "https://minio.storage.svc:9000",
                  region: "us-east-1",
                  credentialsSecret: "im-backup-s3",
                  retentionDays: 14,
                },
              }
            : {}),
        },
      },
    };
  };
  const envOf = (r: RecordedResource): Record<string, unknown> =>
    Object.fromEntries(
      input(r, "spec.template.spec.containers.0.env").map((e: any) => [e.name, e.value ?? e.valueFrom]),
    );
  let rs: RecordedResource[];
  before(async () => {
    rs = await run(inCluster());
  });

  it("creates Redis, Kafka and TiDB in namespace im-data through the operators' kinds, never their charts", () => {
    const kinds = (t: string) =>
      ofType(rs, t).map((r) => `${input(r, "metadata.namespace")}/${input(r, "metadata.name")}`);
    assert.deepEqual(kinds("kubernetes:kafka.strimzi.io/v1beta2:Kafka"), ["im-data/im-kafka"]);
    assert.deepEqual(kinds("kubernetes:kafka.strimzi.io/v1beta2:KafkaNodePool"), ["im-data/brokers"]);
    assert.deepEqual(kinds("kubernetes:kafka.strimzi.io/v1beta2:KafkaTopic").sort(), [
      "im-data/im.message.notify",
      "im-data/im.message.stored",
    ]);
    assert.deepEqual(kinds("kubernetes:pingcap.com/v1alpha1:TidbCluster"), ["im-data/im"]);
    assert.deepEqual(kinds("kubernetes:pingcap.com/v1alpha1:TidbInitializer"), ["im-data/im-init"]);
    assert.deepEqual(kinds("kubernetes:apps/v1:StatefulSet"), ["im-data/redis-cluster"]);
    assert.deepEqual(kinds(T.job).sort(), ["im-data/im-migrate", "im-data/redis-cluster-create"]);
    // Sizes from the stack: brokers and topics from data.kafka, Redis nodes from data.redis, TiDB from cluster.data.
    const pool = one(rs, "kubernetes:kafka.strimzi.io/v1beta2:KafkaNodePool", "cluster-kafka-brokers");
    assert.equal(input(pool, "spec.replicas"), 3);
    assert.equal(input(pool, "spec.storage.volumes.0.size"), "30Gi");
    assert.equal(input(one(rs, "kubernetes:apps/v1:StatefulSet", "cluster-redis"), "spec.replicas"), 6);
    const tidb = one(rs, "kubernetes:pingcap.com/v1alpha1:TidbCluster", "cluster-tidb");
    assert.deepEqual(
      [input(tidb, "spec.pd.replicas"), input(tidb, "spec.tikv.replicas"), input(tidb, "spec.tidb.replicas")],
      [3, 3, 2],
    );
    assert.equal(input(tidb, "spec.tikv.requests.storage"), "40Gi");
    // Preinstalled: no Helm release, no CRD manifest fetched from the network.
    assert.deepEqual(
      rs.filter((r) => /helm\.sh|yaml\/v2:ConfigFile|kubernetes:yaml/.test(r.type)).map((r) => r.type),
      [],
    );
    assert.equal(ofType(rs, "kubernetes:pingcap.com/v1alpha1:BackupSchedule").length, 0);
  });

  it("points the services, the migrations Job and monitoring at the in-cluster endpoints", () => {
    const menv = envOf(one(rs, T.deployment, "cluster-services-message-stable"));
    assert.equal(
      menv.REDIS_NODES,
      [0, 1, 2, 3, 4, 5].map((i) => `redis-cluster-${i}.redis-cluster.im-data.svc:6379`).join(","),
    );
    assert.equal(menv.KAFKA_BROKERS, "im-kafka-kafka-bootstrap.im-data.svc:9092");
    assert.equal(menv.DB_HOST, "im-tidb.im-data.svc");
    assert.equal(menv.DB_PORT, "4000");
    const job = envOf(one(rs, T.job, "cluster-schema"));
    assert.equal(job.DB_HOST, "im-tidb.im-data.svc");
    assert.deepEqual(job.ROOT_PASSWORD, { secretKeyRef: { name: "im-tidb-root", key: "root" } });
    // The brokers export JMX metrics from the ConfigMap Monitoring creates next to them, which a PodMonitor scrapes.
    const kafka = one(rs, "kubernetes:kafka.strimzi.io/v1beta2:Kafka", "cluster-kafka");
    assert.equal(input(kafka, "spec.kafka.metricsConfig.valueFrom.configMapKeyRef.name"), "im-kafka-metrics");
    assert.ok(ofType(rs, "kubernetes:core/v1:ConfigMap").some((c) => input(c, "metadata.name") === "im-kafka-metrics"));
    assert.equal(
      input(
        one(rs, "kubernetes:monitoring.coreos.com/v1:PodMonitor", "cluster-monitoring-kafka"),
        "metadata.namespace",
      ),
      "im-data",
    );
  });

  it("derives TiDB's root password from the seed, kept secret, with no random provider", () => {
    const root = one(rs, T.secret, "cluster-tidb-root");
    assert.equal(decodeSecretData(input(root, "data.root")), deriveSecret(SEED, "im-tidb-root/root"));
    assert.ok(
      root.secretPaths.some((p) => p.startsWith("data")),
      root.secretPaths.join(", "),
    );
    assert.deepEqual(
      rs.filter((r) => /^(aws|alicloud|random|docker-build)[:]|providers:(aws|alicloud|random)/.test(r.type)),
      [],
    );
  });

  it("places the data pods on the stack's data nodes and volumes on its StorageClass", () => {
    const redis = input(one(rs, "kubernetes:apps/v1:StatefulSet", "cluster-redis"), "spec");
    assert.deepEqual(redis.template.spec.nodeSelector, DATA_NODE);
    assert.deepEqual(redis.template.spec.tolerations, [DATA_TAINT]);
    assert.equal(redis.volumeClaimTemplates[0].spec.storageClassName, "fast-ssd");
    const pool = input(one(rs, "kubernetes:kafka.strimzi.io/v1beta2:KafkaNodePool", "cluster-kafka-brokers"), "spec");
    assert.equal(pool.storage.volumes[0].class, "fast-ssd");
    assert.deepEqual(pool.template.pod.tolerations, [DATA_TAINT]);
    assert.deepEqual(
      pool.template.pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms,
      [{ matchExpressions: [{ key: "im/tier", operator: "In", values: ["data"] }] }],
    );
    const tidb = input(one(rs, "kubernetes:pingcap.com/v1alpha1:TidbCluster", "cluster-tidb"), "spec");
    assert.deepEqual(tidb.nodeSelector, DATA_NODE);
    assert.deepEqual([tidb.pd.storageClassName, tidb.tikv.storageClassName], ["fast-ssd", "fast-ssd"]);
  });

  it("enforces baseline in im-data (operators make its pods) and passes every policy", () => {
    const ns = one(rs, T.namespace, "cluster-data-namespace");
    assert.deepEqual(
      Object.entries(input(ns, "metadata.labels"))
        .filter(([k]) => k.startsWith("pod-security"))
        .sort(),
      [
        ["pod-security.kubernetes.io/audit", "restricted"],
        ["pod-security.kubernetes.io/enforce", "baseline"],
        ["pod-security.kubernetes.io/warn", "restricted"],
      ],
    );
    const inputs = rs.filter((r) => r.custom).map((r) => ({ type: r.type, name: r.name, props: r.inputs, id: r.id }));
    assert.deepEqual(evaluatePolicies(inputs), []);
  });

  it("uses the cluster's default StorageClass and the cluster's placement when the data section names none", async () => {
    const s = inCluster();
    const kwok = { key: "kwok.x-k8s.io/node", operator: "Exists" as const };
    const bare = await run({
      ...s,
      cluster: {
        ...s.cluster,
        tolerations: [kwok],
        data: {
          mode: "in-cluster",
          redisStorageGb: 20,
          kafkaStorageGb: 100,
          tidb: s.cluster.data.mode === "in-cluster" ? s.cluster.data.tidb : { pd: 1, tikv: 1, tidb: 1, storageGb: 10 },
        },
      },
    });
    const redis = input(one(bare, "kubernetes:apps/v1:StatefulSet", "cluster-redis"), "spec");
    assert.equal("storageClassName" in redis.volumeClaimTemplates[0].spec, false);
    assert.deepEqual(redis.template.spec.tolerations, [kwok]);
    assert.deepEqual(redis.template.spec.nodeSelector, { "imctl.im-platform.io/node": "real" });
    const pool = input(one(bare, "kubernetes:kafka.strimzi.io/v1beta2:KafkaNodePool", "cluster-kafka-brokers"), "spec");
    assert.equal("class" in pool.storage.volumes[0], false);
    assert.deepEqual(
      pool.template.pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms,
      [{ matchExpressions: [{ key: "imctl.im-platform.io/node", operator: "In", values: ["real"] }] }],
    );
  });

  it("backs TiDB up daily into S3-compatible storage with the credentials Secret the stack names", async () => {
    const backed = await run(inCluster(true));
    const schedule = one(backed, "kubernetes:pingcap.com/v1alpha1:BackupSchedule", "cluster-tidb-backup");
    assert.equal(input(schedule, "spec.maxReservedTime"), "336h");
    assert.deepEqual(input(schedule, "spec.backupTemplate.s3"), {
      provider: "ceph",
      region: "us-east-1",
      bucket: "im-backups",
      prefix: "br",
      endpoint: "https://minio.storage.svc:9000",
      secretName: "im-backup-s3",
    });
    assert.equal(input(schedule, "spec.backupTemplate.serviceAccount"), undefined);
  });

  it("exports no Kafka metrics config without the Prometheus Operator (its ConfigMap would be missing)", async () => {
    const s = inCluster();
    const bare = await run({
      ...s,
      cluster: { ...s.cluster, preinstalled: ["gateway-api", "strimzi", "tidb-operator"] },
    });
    const kafka = one(bare, "kubernetes:kafka.strimzi.io/v1beta2:Kafka", "cluster-kafka");
    assert.equal(input(kafka, "spec.kafka.metricsConfig"), undefined);
    assert.deepEqual(
      ofType(bare, "kubernetes:core/v1:ConfigMap").filter((c) => input(c, "metadata.name") === "im-kafka-metrics"),
      [],
    );
  });

  it("creates only custom resources whose CRDs test/fixtures/crds defines", () => {
    const { custom, undefinedKinds } = customKinds(rs);
    assert.ok(custom.length >= 10);
    assert.deepEqual(undefinedKinds, []);
  });
});
