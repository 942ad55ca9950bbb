/**
 * Distributed load tests on the kubernetes target: k6-operator (its Helm chart) and one ConfigMap per scenario
 * holding the bundled script, so a TestRun (see testrun.ts) can start `parallelism` runner pods at any time.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { bundleScenario } from "./bundle.ts";
import { K6_NAMESPACE, scenarioConfigMap } from "./testrun.ts";

/** Pinned: the TestRun API the operator serves changes between chart versions. Unverified against the registry. */
export const K6_OPERATOR_CHART_VERSION = "3.13.1";

export interface K6OperatorArgs {
  /** Scenario names and their files under loadtests/. */
  scenarios: Array<{ name: string; file: string }>;
  provider: k8s.Provider;
}

export class K6Operator extends pulumi.ComponentResource {
  readonly namespace: pulumi.Output<string>;
  readonly scenarioConfigMaps: pulumi.Output<string>[];

  constructor(name: string, args: K6OperatorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:loadtest:K6Operator", name, {}, opts);
    const ns = new k8s.core.v1.Namespace(
      `${name}-ns`,
      { metadata: { name: K6_NAMESPACE, labels: { "im/purpose": "load-testing" } } },
      { parent: this, provider: args.provider },
    );
    const release = new k8s.helm.v3.Release(
      `${name}-operator`,
      {
        chart: "k6-operator",
        version: K6_OPERATOR_CHART_VERSION,
        repositoryOpts: { repo: "https://grafana.github.io/helm-charts" },
        namespace: "k6-operator-system",
        createNamespace: true,
        values: { manager: { replicas: 1 } },
      },
      { parent: this, provider: args.provider },
    );
    this.scenarioConfigMaps = args.scenarios.map(
      (s) =>
        new k8s.core.v1.ConfigMap(
          `${name}-${s.name}`,
          {
            metadata: {
              name: scenarioConfigMap(s.name),
              namespace: ns.metadata.name,
              labels: { "im/scenario": s.name },
            },
            data: { [`${s.name}.js`]: bundleScenario(s.file) },
          },
          { parent: this, provider: args.provider, dependsOn: [release] },
        ).metadata.name,
    );
    this.namespace = ns.metadata.name;
    this.registerOutputs({ namespace: this.namespace, scenarioConfigMaps: this.scenarioConfigMaps });
  }
}
