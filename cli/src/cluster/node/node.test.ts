import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { portList } from "../../commands/cluster/register.ts";
import { parseState } from "../state.ts";
import { ruleset } from "./cni-host-loopback.mjs";
import {
  cniConfig,
  containerdConfig,
  corefile,
  initScript,
  KUBELET_SYSCTLS,
  kubeletConfig,
  kubeProxyConfig,
  nodeLayout,
  REAL_NODE_IP,
} from "./config.ts";
import { parse } from "yaml";
import { egressAllowed, legs } from "./forward.mjs";
import { prometheusConfig, SD_PORT } from "./observability.ts";
import { targetGroups } from "./prometheus-sd.mjs";
import { nodeRoutes } from "./node.ts";

describe("the real node's configuration", () => {
  const layout = nodeLayout("/state/cluster", "0123abcd");

  it("containerd: the OOM-score restriction this machine needs, cgroupfs, the CNI directories, the local pause image", () => {
    const toml = containerdConfig("imctl.local/pause:abc");
    assert.match(toml, /restrict_oom_score_adj = true/);
    assert.match(toml, /SystemdCgroup = false/);
    assert.match(toml, /sandbox_image = "imctl.local\/pause:abc"/);
    assert.match(toml, /bin_dir = "\/opt\/cni\/bin"/);
  });

  it("kubelet: cgroupfs under the node's own cgroup root, no swap check, no image collection, DNS at the node", () => {
    const cfg = JSON.parse(
      kubeletConfig({ cgroupRoot: layout.cgroupRoot, caFile: "/ca", healthzPort: 10248, clusterDns: REAL_NODE_IP }),
    );
    assert.equal(cfg.cgroupDriver, "cgroupfs");
    assert.equal(cfg.cgroupRoot, "/imctl-0123abcd");
    assert.equal(cfg.failSwapOn, false);
    assert.equal(cfg.imageGCHighThresholdPercent, 100);
    assert.deepEqual(cfg.clusterDNS, [REAL_NODE_IP]);
    assert.equal(cfg.readOnlyPort, 0);
    assert.equal(cfg.authentication.anonymous.enabled, false);
  });

  it("kube-proxy leaves the machine-wide conntrack settings alone; CoreDNS forwards nothing outside", () => {
    const kp = JSON.parse(kubeProxyConfig("/kc", "10.244.0.0/16"));
    assert.deepEqual(kp.conntrack, { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" });
    assert.equal(kp.iptables.masqueradeAll, true);
    const core = corefile("/kc", "imctl-embedded");
    assert.match(core, new RegExp(`bind ${REAL_NODE_IP.replaceAll(".", "\\.")}`));
    assert.doesNotMatch(core, /forward/);
  });

  it("CNI: a bridge with the node as gateway, then the host-loopback rules for exactly the given ports", () => {
    const net = JSON.parse(cniConfig([17001, 13306]));
    assert.equal(net.plugins[0].type, "bridge");
    assert.equal(net.plugins[0].ipam.ranges[0][0].gateway, REAL_NODE_IP);
    assert.equal(net.plugins[0].isDefaultGateway, true);
    assert.deepEqual(net.plugins[1], { type: "imctl-host-loopback", gateway: REAL_NODE_IP, ports: [17001, 13306] });
    const rules = ruleset(REAL_NODE_IP, [17001, 13306]);
    assert.match(rules, /ip daddr 127\.0\.0\.1 tcp dport \{ 17001, 13306 \} dnat to 10\.244\.128\.1/);
    assert.match(rules, /masquerade/);
  });

  it("init: the kubelet's kernel tunables are the node's own files, and the first process to exit ends the node", () => {
    const text = initScript({
      layout,
      imageArchives: ["/images/pause.oci.tar"],
      kubelet: "/bin/kubelet",
      kubeletArgs: ["--v=1"],
      containerd: "/bin/containerd",
      ctr: "/bin/ctr",
      node: "/bin/node",
      forwardScript: "/f.mjs",
      kubeProxy: "/bin/kube-proxy",
      kubeProxyConfig: "/kp.yaml",
      coredns: "/bin/coredns",
      corefile: "/Corefile",
      routes: ["reach:24101"],
    });
    for (const s of KUBELET_SYSCTLS) assert.ok(text.includes(`/proc/sys/${s.path}`), s.path);
    assert.match(text, /mount -t tmpfs -o mode=0755 tmpfs \/run\/netns/);
    assert.match(text, /wait -n/);
    assert.match(text, /images import '\/images\/pause.oci.tar'/);
  });
});

describe("the forwarder's routes", () => {
  it("splits each route into the machine's half and the node's half, meeting at one socket", () => {
    const routes = nodeRoutes({ netns: "imctl-0123abcd", hostPorts: [24101, 13306], ingressPort: 24180, pids: {} });
    assert.deepEqual(routes, ["reach:24101", "reach:13306", `publish:24180:${REAL_NODE_IP}:30080`, "egress"]);
    const machine = legs("machine", "/s", routes);
    const node = legs("node", "/s", routes);
    assert.deepEqual(machine[0], {
      name: "reach:24101",
      listen: { path: "/s/r24101.sock" },
      target: { host: "127.0.0.1", port: 24101 },
    });
    assert.deepEqual(node[0], {
      name: "reach:24101",
      listen: { host: "0.0.0.0", port: 24101 },
      target: { path: "/s/r24101.sock" },
    });
    assert.deepEqual(machine[2]?.listen, { host: "127.0.0.1", port: 24180 });
    assert.deepEqual(node[2]?.target, { host: REAL_NODE_IP, port: 30080 });
    // egress: the node's CONNECT proxy only; the API server dials the socket itself
    assert.equal(machine.length, 3);
    assert.deepEqual(node[3], {
      name: "egress",
      listen: { path: "/s/egress.sock" },
      target: { path: "" },
      connectProxy: true,
    });
  });

  it("egress reaches the pod and Service ranges only, never the machine or anything else", () => {
    for (const ip of ["10.244.128.7", "10.244.0.3", "10.96.0.1", "10.96.255.254"]) assert.ok(egressAllowed(ip), ip);
    for (const ip of ["127.0.0.1", "10.245.0.1", "10.97.0.1", "192.168.1.1", "0.0.0.0", "localhost", "10.244.1"])
      assert.ok(!egressAllowed(ip), ip);
  });

  it("refuses a malformed route in one line", () => {
    assert.throws(() => legs("node", "/s", ["reach:99999"]), /route: got "reach:99999"; allowed: reach:<port>/);
    assert.throws(
      () => legs("node", "/s", ["publish:1:not-an-ip:2"]),
      /allowed: reach:<port>, publish:<port>:<ipv4>:<port> or egress/,
    );
  });
});

describe("--host-ports and the state file", () => {
  it("takes ports and ranges, and refuses anything else naming what is allowed", () => {
    assert.deepEqual(portList("17001-17003,13306"), [17001, 17002, 17003, 13306]);
    assert.throws(() => portList("70000"), /allowed: ports or ranges of 1-65535/);
    assert.throws(() => portList("1-1000"), /allowed: ports or ranges/);
    assert.throws(() => portList("abc"), /got "abc"/);
  });

  it("reads a real node's state back, and names a bad field", () => {
    const base = {
      version: 1,
      createdAt: "2026-12-05T00:00:00Z",
      ports: {
        etcd: 1,
        "kube-apiserver": 2,
        "kube-controller-manager": 3,
        "kube-scheduler": 4,
        kwok: 5,
        "etcd-peer": 6,
      },
      pids: {},
    };
    const realNode = { netns: "imctl-0123abcd", hostPorts: [2, 13306], ingressPort: 24180, pids: { init: 10 } };
    assert.deepEqual(parseState(JSON.stringify({ ...base, realNode })).realNode, realNode);
    assert.throws(
      () => parseState(JSON.stringify({ ...base, realNode: { ...realNode, netns: "other" } })),
      /realNode.netns is not imctl-<8 hex digits>/,
    );
  });
});

describe("the Prometheus pod's discovery sidecar", () => {
  it("serves the running pods that ask to be scraped, labelled as kubernetes_sd relabelling would", () => {
    const pod = (
      name: string,
      o: { phase?: string; ip?: string; scrape?: string; port?: string; deleting?: boolean },
    ) => ({
      metadata: {
        name,
        namespace: "im",
        labels: { "im/track": "canary" },
        annotations: {
          "prometheus.io/scrape": o.scrape ?? "true",
          ...(o.port ? { "prometheus.io/port": o.port } : {}),
        },
        ...(o.deleting ? { deletionTimestamp: "2026-12-06T00:00:00Z" } : {}),
      },
      status: { phase: o.phase ?? "Running", ...(o.ip === undefined ? {} : { podIP: o.ip }) },
    });
    const groups = targetGroups({
      items: [
        pod("gateway-canary-1", { ip: "10.244.128.9", port: "8080" }),
        pod("pending", { phase: "Pending", ip: "10.244.128.10" }),
        pod("no-ip", {}),
        pod("quiet", { ip: "10.244.128.11", scrape: "false" }),
        pod("leaving", { ip: "10.244.128.12", deleting: true }),
      ],
    });
    assert.deepEqual(groups, [
      {
        targets: ["10.244.128.9:8080"],
        labels: {
          __metrics_path__: "/metrics",
          namespace: "im",
          pod: "gateway-canary-1",
          component: "gateway-canary-1",
          track: "canary",
        },
      },
    ]);
    assert.deepEqual(targetGroups({}), []);
  });

  it("Prometheus reads the sidecar over loopback, keeping the services' own labels", () => {
    const cfg = parse(prometheusConfig()) as { scrape_configs: Array<Record<string, any>> };
    const pods = cfg.scrape_configs.find((c) => c.job_name === "pods");
    assert.equal(pods?.honor_labels, true);
    assert.deepEqual(pods?.http_sd_configs, [{ url: `http://127.0.0.1:${SD_PORT}/targets`, refresh_interval: "5s" }]);
  });
});
