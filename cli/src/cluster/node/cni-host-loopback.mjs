#!/usr/bin/env node
// A chained CNI plugin of the embedded cluster's real node (type "imctl-host-loopback"): in each pod's network
// namespace, connections to 127.0.0.1 on the listed ports go to the node's pod gateway instead, where the node's
// forwarder (forward.mjs) carries them to the machine's loopback. So the data tier the stack names as external
// endpoints on 127.0.0.1 (a Redis Cluster and Kafka brokers that advertise 127.0.0.1 themselves) answers inside
// the pods at the same addresses, as managed services answer a cloud cluster's pods at theirs. Nothing changes
// outside the pod's own namespace, which the runtime deletes with the pod.
//
// Config: { "type": "imctl-host-loopback", "gateway": "10.244.128.1", "ports": [17001, ...], "prevResult": {...} }
import { execFileSync } from "node:child_process";
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

const SUPPORTED = ["0.4.0", "1.0.0"];

/** @param {number} code @param {string} msg @returns {never} */
function fail(code, msg) {
  process.stdout.write(JSON.stringify({ cniVersion: "1.0.0", code, msg }));
  process.exit(1);
}

/**
 * The nftables ruleset of one pod: DNAT loopback connections on `ports` to `gateway`, source-NAT them out.
 * @param {string} gateway @param {number[]} ports
 */
export function ruleset(gateway, ports) {
  return [
    "table ip imctl_host_loopback {",
    "  chain output {",
    "    type nat hook output priority -100; policy accept;",
    `    ip daddr 127.0.0.1 tcp dport { ${ports.join(", ")} } dnat to ${gateway}`,
    "  }",
    "  chain postrouting {",
    "    type nat hook postrouting priority 100; policy accept;",
    '    ip saddr 127.0.0.0/8 oifname != "lo" masquerade',
    "  }",
    "}",
    "",
  ].join("\n");
}

function main() {
  const command = process.env.CNI_COMMAND;
  if (command === "VERSION") {
    process.stdout.write(JSON.stringify({ cniVersion: "1.0.0", supportedVersions: SUPPORTED }));
    return;
  }
  let conf;
  try {
    conf = JSON.parse(readFileSync(0, "utf8"));
  } catch (err) {
    fail(6, `config is not JSON: ${/** @type {Error} */ (err).message}`);
  }
  if (command === "DEL" || command === "CHECK") return; // the pod's namespace (and the rules) go with the pod
  if (command !== "ADD") fail(4, `unknown CNI_COMMAND ${command}`);
  const netns = process.env.CNI_NETNS;
  const ports = Array.isArray(conf.ports)
    ? conf.ports.filter((/** @type {number} */ p) => Number.isInteger(p) && p > 0 && p < 65536)
    : [];
  if (!netns) fail(4, "CNI_NETNS is not set");
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(String(conf.gateway)))
    fail(7, `gateway: got ${conf.gateway}; allowed: an IPv4 address`);
  if (ports.length > 0) {
    try {
      // route_localnet: a connection bound to 127.0.0.1 may leave through eth0 once it is rewritten.
      execFileSync("nsenter", [`--net=${netns}`, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet"]);
      execFileSync("nsenter", [`--net=${netns}`, "nft", "-f", "-"], { input: ruleset(conf.gateway, ports) });
    } catch (err) {
      const e = /** @type {{ stderr?: Buffer, message: string }} */ (err);
      fail(
        11,
        `host loopback rules in ${netns}: ${String(e.stderr ?? e.message)
          .trim()
          .slice(0, 200)}`,
      );
    }
  }
  process.stdout.write(JSON.stringify({ ...(conf.prevResult ?? {}), cniVersion: conf.cniVersion ?? "1.0.0" }));
}

// Run as a plugin (the runtime executes the file); imported by tests, it only exports ruleset().
if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) main();
