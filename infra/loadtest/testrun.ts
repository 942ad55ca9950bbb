/**
 * The TestRun that k6-operator turns into a distributed k6 run: `parallelism` runner pods, each running the
 * bundled scenario with 1/parallelism of the load (k6 execution segments). Pure data: infra declares the
 * operator and the scripts; `imctl loadtest testrun` prints this for `kubectl apply -f -`.
 */
export const K6_RUNNER_IMAGE = "grafana/k6:1.8.1";
export const K6_NAMESPACE = "k6";

export interface TestRunOptions {
  scenario: string;
  /** The platform's edge as the runners see it, e.g. https://<kubernetes.ingress.host> (the Gateway routes only that host). */
  target: string;
  parallelism: number;
  vus?: number;
  rate?: number;
  duration?: string;
  maxP99?: number;
  /** A name unique per run (TestRuns are not re-run; a new run is a new object). */
  runId: string;
}

export interface TestRun {
  apiVersion: "k6.io/v1alpha1";
  kind: "TestRun";
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: {
    parallelism: number;
    script: { configMap: { name: string; file: string } };
    arguments: string;
    runner: { image: string; resources: { requests: Record<string, string>; limits: Record<string, string> } };
  };
}

export const scenarioConfigMap = (scenario: string) => `k6-scenario-${scenario}`;

export function testRunManifest(o: TestRunOptions): TestRun {
  if (!Number.isInteger(o.parallelism) || o.parallelism < 1 || o.parallelism > 100) {
    throw new Error(`parallelism: got ${JSON.stringify(o.parallelism)}; allowed: a whole number from 1 to 100`);
  }
  const env = [`TARGET=${o.target}`, `RUN_ID=${o.runId}`];
  if (o.vus !== undefined) env.push(`VUS=${o.vus}`);
  if (o.rate !== undefined) env.push(`RATE=${o.rate}`);
  if (o.duration !== undefined) env.push(`DURATION=${o.duration}`);
  if (o.maxP99 !== undefined) env.push(`MAX_P99_MS=${o.maxP99}`);
  return {
    apiVersion: "k6.io/v1alpha1",
    kind: "TestRun",
    metadata: {
      name: `${o.scenario}-${o.runId}`
        .toLowerCase()
        .replace(/[^a-z0-9-]/g, "-")
        .slice(0, 63),
      namespace: K6_NAMESPACE,
      labels: { "im/scenario": o.scenario },
    },
    spec: {
      parallelism: o.parallelism,
      script: { configMap: { name: scenarioConfigMap(o.scenario), file: `${o.scenario}.js` } },
      arguments: [...env.flatMap((e) => ["-e", e]), "--tag", `testid=${o.scenario}-${o.runId}`].join(" "),
      runner: {
        image: K6_RUNNER_IMAGE,
        resources: { requests: { cpu: "1", memory: "1Gi" }, limits: { cpu: "2", memory: "4Gi" } },
      },
    },
  };
}
