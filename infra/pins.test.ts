import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../base/root.mjs";
import {
  GATEWAY_API_VERSION as EMBEDDED_GATEWAY_API_VERSION,
  TRAEFIK_VERSION as EMBEDDED_TRAEFIK_VERSION,
} from "../base/tools.mjs";
import { CERT_MANAGER_CHART_VERSION } from "./cluster/cert-manager.ts";
import { CLUSTER_AUTOSCALER_CHART_VERSION, METRICS_SERVER_CHART_VERSION } from "./cluster/eks-autoscaling.ts";
import { STRIMZI_CHART_VERSION } from "./data/kafka-cluster.ts";
import { REDIS_IMAGE } from "./data/redis-cluster.ts";
import { TIDB_OPERATOR_VERSION, TIDB_VERSION } from "./data/tidb-cluster.ts";
import { AWS_LBC_CHART_VERSION } from "./gateway/aws-load-balancer-controller.ts";
import { GATEWAY_API_VERSION, TRAEFIK_CHART_VERSION, TRAEFIK_VERSION } from "./gateway/traefik.ts";
import {
  KUBE_PROMETHEUS_STACK_CHART_VERSION,
  MYSQLD_EXPORTER_IMAGE,
  REDIS_EXPORTER_IMAGE,
} from "./observability/monitoring.ts";

describe("pins", () => {
  it("docs/cloud-stacks.md lists every pinned chart, operator and image with the value in code", () => {
    const doc = readFileSync(join(REPO_ROOT, "docs", "cloud-stacks.md"), "utf8");
    const table = doc.slice(doc.indexOf("## Pins"), doc.indexOf("## Before a first"));
    const tag = (image: string) => image.slice(image.lastIndexOf(":") + 1);
    const pins: Record<string, string> = {
      "Traefik chart": TRAEFIK_CHART_VERSION,
      Traefik: TRAEFIK_VERSION,
      "Gateway API CRDs (standard channel)": GATEWAY_API_VERSION,
      "AWS Load Balancer Controller chart": AWS_LBC_CHART_VERSION,
      "cert-manager chart": CERT_MANAGER_CHART_VERSION,
      "metrics-server chart": METRICS_SERVER_CHART_VERSION,
      "cluster-autoscaler chart": CLUSTER_AUTOSCALER_CHART_VERSION,
      "kube-prometheus-stack chart": KUBE_PROMETHEUS_STACK_CHART_VERSION,
      "Strimzi chart": STRIMZI_CHART_VERSION,
      "TiDB Operator (chart and CRDs)": TIDB_OPERATOR_VERSION,
      TiDB: TIDB_VERSION,
      "Redis image": REDIS_IMAGE,
      "redis_exporter image": tag(REDIS_EXPORTER_IMAGE),
      "mysqld_exporter image": tag(MYSQLD_EXPORTER_IMAGE),
    };
    for (const [what, value] of Object.entries(pins))
      assert.ok(table.includes(`| ${what} | ${value} |`), `docs/cloud-stacks.md Pins: "| ${what} | ${value} |"`);
  });

  it("runs the Traefik and Gateway API releases the embedded cluster runs (base/tools.mjs): tests see production's", () => {
    assert.equal(TRAEFIK_VERSION, EMBEDDED_TRAEFIK_VERSION);
    assert.equal(GATEWAY_API_VERSION, EMBEDDED_GATEWAY_API_VERSION);
  });
});
