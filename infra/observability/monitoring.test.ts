import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { REPO_ROOT } from "../../base/root.mjs";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { loadSpec, parseSpec, requireKubernetes } from "../lib/spec.ts";
import { deployPlatform } from "../platform.ts";
import { ofType, one, runWithMocks, type RecordedResource } from "../test/mocks.ts";
import { KAFKA_JMX_EXPORTER_CONFIG } from "./kafka-jmx.ts";
import { KUBE_PROMETHEUS_STACK_CHART_VERSION } from "./monitoring.ts";
import { loadRuleGroups } from "./rules.ts";

const T = {
  release: "kubernetes:helm.sh/v3:Release",
  configMap: "kubernetes:core/v1:ConfigMap",
  deployment: "kubernetes:apps/v1:Deployment",
} as const;
const input = (r: RecordedResource, path: string): any => path.split(".").reduce<any>((v, k) => v?.[k], r.inputs);
const CR: Record<string, string> = {
  PrometheusRule: "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
  PodMonitor: "kubernetes:monitoring.coreos.com/v1:PodMonitor",
  ScrapeConfig: "kubernetes:monitoring.coreos.com/v1alpha1:ScrapeConfig",
};
const ofKind = (rs: RecordedResource[], kind: string) => ofType(rs, CR[kind] ?? kind);

describe("observability on the kubernetes target (stacks/multicloud.yaml)", () => {
  let rs: RecordedResource[];
  before(async () => {
    const spec = requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", "multicloud.yaml")), "multicloud");
    rs = (await runWithMocks(spec.name, () => deployPlatform(spec))).resources;
  });

  it("installs kube-prometheus-stack in each cluster, pinned, with the tenant's external labels", () => {
    const stacks = ofType(rs, T.release).filter((r) => r.inputs.chart === "kube-prometheus-stack");
    assert.deepEqual(stacks.map((r) => r.name).sort(), ["alicloud-monitoring-stack", "aws-monitoring-stack"]);
    const aws = one(rs, T.release, "aws-monitoring-stack");
    assert.equal(aws.inputs.version, KUBE_PROMETHEUS_STACK_CHART_VERSION);
    assert.deepEqual(input(aws, "values.prometheus.prometheusSpec.externalLabels"), {
      platform: "multicloud",
      cloud: "aws",
      region: input(aws, "values.prometheus.prometheusSpec.externalLabels.region"),
    });
    assert.equal(input(aws, "values.prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues"), false);
    assert.equal(input(aws, "values.grafana.sidecar.dashboards.label"), "grafana_dashboard");
  });

  it("loads the very rules file the local target loads, as a PrometheusRule", () => {
    const rules = ofKind(rs, "PrometheusRule");
    assert.equal(rules.length, 2);
    for (const r of rules) assert.deepEqual(input(r, "spec.groups"), loadRuleGroups());
  });

  it("ships the overview, one dashboard per service and the cluster's tenant as sidecar ConfigMaps", () => {
    const maps = ofType(rs, T.configMap).filter((r) => input(r, "metadata.labels.grafana_dashboard") === "1");
    const uids = (cloud: string) =>
      maps
        .filter((m) => m.name.startsWith(`${cloud}-monitoring-`))
        .map((m) => {
          const [json] = Object.values(m.inputs.data as Record<string, string>);
          return (JSON.parse(json ?? "{}") as { uid: string }).uid;
        })
        .sort();
    assert.deepEqual(uids("aws"), [
      "im-overview",
      "im-service-gateway",
      "im-service-message",
      "im-service-user-center",
      "im-tenant-multicloud-aws",
    ]);
    assert.deepEqual(uids("alicloud"), [
      "im-overview",
      "im-service-gateway",
      "im-service-message",
      "im-service-user-center",
      "im-tenant-multicloud-alicloud",
    ]);
  });

  it("scrapes the services, Redis and the database under the local target's job names", () => {
    const job = (r: RecordedResource) => {
      const eps = (input(r, "spec.podMetricsEndpoints") ?? [{ relabelings: input(r, "spec.relabelings") }]) as Array<{
        relabelings: Array<{ targetLabel: string; replacement?: unknown }>;
      }>;
      return eps[0]?.relabelings.find((x) => x.targetLabel === "job")?.replacement;
    };
    const monitors = [...ofKind(rs, "PodMonitor"), ...ofKind(rs, "ScrapeConfig")].filter((r) =>
      r.name.startsWith("aws-"),
    );
    assert.deepEqual(monitors.map((m) => [m.name, job(m)]).sort(), [
      ["aws-monitoring-mysql", "mysql"],
      ["aws-monitoring-redis", "redis"],
      ["aws-monitoring-services", "im-services"],
      ["aws-monitoring-traefik", "traefik"],
    ]);
    const services = one(rs, CR.PodMonitor ?? "", "aws-monitoring-services");
    assert.equal(
      input(services, "spec.podMetricsEndpoints.0.honorLabels"),
      true,
      "the services' own service/version labels win",
    );
    assert.deepEqual(input(services, "spec.selector.matchLabels"), { "app.kubernetes.io/part-of": "im-platform" });
    const traefik = one(rs, CR.PodMonitor ?? "", "aws-monitoring-traefik");
    assert.deepEqual(input(traefik, "spec.namespaceSelector.matchNames"), ["im-traffic"]);
    assert.deepEqual(input(traefik, "spec.selector.matchLabels"), {
      "app.kubernetes.io/name": "traefik",
      "app.kubernetes.io/instance": "traefik-im-traffic",
    });
    const redis = one(rs, CR.ScrapeConfig ?? "", "aws-monitoring-redis");
    const targets = input(redis, "spec.staticConfigs.0.targets") as string[];
    assert.ok(targets.length > 0 && targets.every((t) => t.startsWith("redis://")), targets.join(","));
  });

  it("configures Strimzi's JMX exporter like the local brokers' only where Kafka runs in the cluster", async () => {
    // Every stack in stacks/ uses managed Kafka: run one with Strimzi on AWS.
    const raw = parse(readFileSync(join(REPO_ROOT, "stacks", "multicloud.yaml"), "utf8")) as {
      clouds: { aws: { data: { kafka: { mode: string } } } };
    };
    raw.clouds.aws.data.kafka.mode = "strimzi";
    const spec = requireKubernetes(parseSpec(raw, "multicloud-strimzi"), "multicloud-strimzi");
    const strimziRs = (await runWithMocks(spec.name, () => deployPlatform(spec))).resources;
    const kafkaMonitors = ofKind(strimziRs, "PodMonitor").filter((r) => r.name.endsWith("-monitoring-kafka"));
    assert.deepEqual(
      kafkaMonitors.map((r) => r.name),
      ["aws-monitoring-kafka"],
    );
    assert.deepEqual(input(kafkaMonitors[0] as RecordedResource, "spec.selector.matchLabels"), {
      "strimzi.io/cluster": "im-kafka",
      "strimzi.io/kind": "Kafka",
    });
    const kafka = one(strimziRs, "kubernetes:kafka.strimzi.io/v1beta2:Kafka", "aws-data-kafka");
    assert.deepEqual(input(kafka, "spec.kafka.metricsConfig.valueFrom.configMapKeyRef"), {
      name: "im-kafka-metrics",
      key: "metrics-config.yml",
    });
    const jmx = ofType(strimziRs, T.configMap).filter((r) => input(r, "metadata.name") === "im-kafka-metrics");
    const strimzi = ofType(strimziRs, T.release)
      .filter((r) => r.inputs.chart === "strimzi-kafka-operator")
      .map((r) => r.name.split("-")[0]);
    assert.deepEqual(jmx.map((r) => r.name.split("-")[0]).sort(), strimzi.sort());
    assert.deepEqual(strimzi, ["aws"]);
    for (const j of jmx)
      assert.equal(Object.values(j.inputs.data as Record<string, string>)[0], KAFKA_JMX_EXPORTER_CONFIG);
  });

  it("puts everything it declares in the observability layer (imctl plan groups by it)", () => {
    const mine = rs.filter((r) => r.name.includes("-monitoring"));
    assert.ok(mine.length > 10);
    for (const r of mine) assert.equal(r.layer, "observability", `${r.type} ${r.name}`);
    const exporters = ofType(rs, T.deployment)
      .filter((r) => r.layer === "observability")
      .map((r) => r.name)
      .sort();
    assert.deepEqual(exporters, [
      "alicloud-monitoring-mysqld-exporter",
      "alicloud-monitoring-redis-exporter",
      "aws-monitoring-mysqld-exporter",
      "aws-monitoring-redis-exporter",
    ]);
  });
});
