#!/usr/bin/env node
// Pod discovery for the embedded cluster's Prometheus, as a sidecar in its pod. Debian's Prometheus (the binary this
// machine has) is built without kubernetes_sd, so this lists the pods of one node through the API server (the pod's
// service account, in-cluster) every few seconds and serves them in Prometheus's HTTP service-discovery format on
// 127.0.0.1:<port>/targets: the pods annotated prometheus.io/scrape "true", at their prometheus.io/port and path,
// labelled namespace, pod, component (the pod) and track, as kubernetes_sd relabelling would.
// Plain JavaScript: it runs in the cluster from a ConfigMap, on the Node runtime image, with no loader.
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { setInterval } from "node:timers";
import { fileURLToPath } from "node:url";
import { realpathSync } from "node:fs";

/**
 * The target groups of a pod list: running, with an address, asking to be scraped.
 * @param {{ items?: Array<any> }} list
 * @returns {Array<{ targets: string[], labels: Record<string, string> }>}
 */
export function targetGroups(list) {
  return (list.items ?? [])
    .filter(
      (p) =>
        p?.metadata?.annotations?.["prometheus.io/scrape"] === "true" &&
        p.status?.phase === "Running" &&
        typeof p.status?.podIP === "string" &&
        (p.metadata?.deletionTimestamp === undefined || p.metadata?.deletionTimestamp === null),
    )
    .map((p) => {
      const a = p.metadata.annotations;
      return {
        targets: [`${p.status.podIP}:${a["prometheus.io/port"] ?? "8080"}`],
        labels: {
          __metrics_path__: a["prometheus.io/path"] ?? "/metrics",
          namespace: p.metadata.namespace ?? "",
          pod: p.metadata.name ?? "",
          component: p.metadata.name ?? "",
          track: p.metadata.labels?.["im/track"] ?? "",
        },
      };
    });
}

const SA = "/var/run/secrets/kubernetes.io/serviceaccount";

/** @param {string} node @returns {Promise<{ items?: Array<any> }>} */
function listPods(node) {
  const path = `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`;
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: process.env.KUBERNETES_SERVICE_HOST,
        port: Number(process.env.KUBERNETES_SERVICE_PORT ?? 443),
        path,
        ca: readFileSync(`${SA}/ca.crt`),
        headers: { authorization: `Bearer ${readFileSync(`${SA}/token`, "utf8").trim()}` },
        timeout: 5000,
      },
      (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () =>
          res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`list pods: HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error("list pods: no answer in 5 s")));
    req.on("error", reject);
    req.end();
  });
}

async function main() {
  const node = process.env.SCRAPE_NODE ?? "";
  const port = Number(process.env.SD_PORT ?? 9091);
  let body = "[]";
  const refresh = async () => {
    try {
      body = JSON.stringify(targetGroups(await listPods(node)));
    } catch (err) {
      // Keep serving the last list: Prometheus keeps its targets meanwhile.
      process.stderr.write(`prometheus-sd: ${/** @type {Error} */ (err).message}\n`);
    }
  };
  await refresh();
  setInterval(refresh, 5000);
  http
    .createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(body);
    })
    .listen(port, "127.0.0.1");
  process.stderr.write(`prometheus-sd: pods of ${node} on 127.0.0.1:${port}/targets\n`);
}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) await main();
