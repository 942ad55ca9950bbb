import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../base/root.mjs";
import { CERT_MANAGER_CHART_VERSION } from "./cluster/cert-manager.ts";
import { CLUSTER_AUTOSCALER_CHART_VERSION, METRICS_SERVER_CHART_VERSION } from "./cluster/eks-autoscaling.ts";
import { STRIMZI_CHART_VERSION } from "./data/kafka-cluster.ts";
import { REDIS_IMAGE } from "./data/redis-cluster.ts";
import { TIDB_OPERATOR_VERSION, TIDB_VERSION } from "./data/tidb-cluster.ts";
import { AWS_LBC_CHART_VERSION } from "./gateway/aws-load-balancer-controller.ts";
import { INGRESS_NGINX_CHART_VERSION } from "./gateway/ingress-nginx.ts";
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
      "ingress-nginx chart": INGRESS_NGINX_CHART_VERSION,
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
});
