#!/usr/bin/env node
// The embedded cluster's bridge between the machine's loopback and the real node's network namespace, over unix
// sockets (a unix socket is a file, so both namespaces reach it; no interface, route or address of the machine
// changes). The same list of routes is given to two processes, one on each side, and each does its half:
//   node forward.mjs machine <dir> <route>...   on the machine
//   node forward.mjs node <dir> <route>...      inside the node's network namespace
// Routes:
//   reach:<port>                      the node (and its pods, at the node's address) reach 127.0.0.1:<port> of the
//                                     machine: the API server, the data tier a stack names as external endpoints.
//                                     node: 0.0.0.0:<port> -> r<port>.sock; machine: r<port>.sock -> 127.0.0.1:<port>
//   publish:<port>:<address>:<target> the machine's 127.0.0.1:<port> reaches <address>:<target> in the node (the
//                                     traffic layer's NodePort).
//                                     machine: 127.0.0.1:<port> -> p<port>.sock; node: p<port>.sock -> <address>:<target>
//   egress                            the API server reaches the cluster's addresses (pods, Services, the kubelet) as
//                                     Konnectivity lets it on a cloud: its egress selector (`cluster`) speaks HTTP
//                                     CONNECT to egress.sock, and the node connects to the address asked for, if it
//                                     is in the pod or Service range or the node's own. node only; the machine has
//                                     nothing to do (the API server dials the socket itself).
// Plain JavaScript on purpose: it runs for the cluster's life with no TypeScript loader in memory.
import { createServer, connect } from "node:net";
import { mkdirSync, realpathSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * @typedef {{ path: string } | { host: string, port: number }} Address
 * @typedef {{ listen: Address, target: Address, name: string, connectProxy?: boolean }} Leg
 */

const PORT = /^\d{1,5}$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const validPort = (/** @type {string} */ s) => PORT.test(s) && Number(s) > 0 && Number(s) < 65536;

/** What the egress route may connect to: the pod range, the Service range, nothing else (never the machine). */
/** @type {Array<[number, number]>} */
const EGRESS_RANGES = [
  [0x0af40000, 16], // 10.244.0.0/16 pods
  [0x0a600000, 16], // 10.96.0.0/16 Services
];

/** @param {string} ip */
export function egressAllowed(ip) {
  if (!IPV4.test(ip)) return false;
  const n = ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
  return EGRESS_RANGES.some(([base, bits]) => Math.floor(n / 2 ** (32 - bits)) === Math.floor(base / 2 ** (32 - bits)));
}

/**
 * One HTTP CONNECT tunnel: reads the request head, connects to the address if allowed, answers 200 and joins the two.
 * @param {import("node:net").Socket} client
 */
function egressTunnel(client) {
  let head = "";
  const onData = (/** @type {Buffer} */ chunk) => {
    head += chunk.toString("latin1");
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) {
      if (head.length > 8192) client.destroy();
      return;
    }
    client.off("data", onData);
    client.pause();
    const m = /^CONNECT ([0-9.]+):(\d{1,5}) HTTP\/1\.[01]\r\n/.exec(head);
    if (!m || !egressAllowed(m[1] ?? "")) {
      client.end("HTTP/1.1 403 Forbidden\r\n\r\n");
      return;
    }
    const rest = Buffer.from(head.slice(end + 4), "latin1");
    const upstream = connect({ host: m[1], port: Number(m[2]) }, () => {
      client.write("HTTP/1.1 200 Connection established\r\n\r\n");
      if (rest.length > 0) upstream.write(rest);
      splice(client, upstream);
      client.resume();
    });
    upstream.on("error", () => {
      if (!client.destroyed) client.end("HTTP/1.1 502 Bad Gateway\r\n\r\n");
    });
  };
  client.on("data", onData);
  client.on("error", () => client.destroy());
}

/**
 * This side's half of each route, or an error naming the bad route.
 * @param {"machine" | "node"} side @param {string} dir @param {string[]} routes
 * @returns {Leg[]} (flatMap: a route with nothing to do on this side gives none)
 */
export function legs(side, dir, routes) {
  return routes.flatMap((route) => {
    const parts = route.split(":");
    if (parts[0] === "reach" && parts.length === 2 && validPort(parts[1] ?? "")) {
      const port = Number(parts[1]);
      const sock = { path: join(dir, `r${port}.sock`) };
      return side === "machine"
        ? { name: route, listen: sock, target: { host: "127.0.0.1", port } }
        : { name: route, listen: { host: "0.0.0.0", port }, target: sock };
    }
    if (
      parts[0] === "publish" &&
      parts.length === 4 &&
      validPort(parts[1] ?? "") &&
      IPV4.test(parts[2] ?? "") &&
      validPort(parts[3] ?? "")
    ) {
      const sock = { path: join(dir, `p${parts[1]}.sock`) };
      return side === "machine"
        ? { name: route, listen: { host: "127.0.0.1", port: Number(parts[1]) }, target: sock }
        : { name: route, listen: sock, target: { host: String(parts[2]), port: Number(parts[3]) } };
    }
    if (route === "egress") {
      return side === "machine"
        ? []
        : { name: route, listen: { path: join(dir, "egress.sock") }, target: { path: "" }, connectProxy: true };
    }
    throw new Error(
      `route: got ${JSON.stringify(route.slice(0, 80))}; allowed: reach:<port>, publish:<port>:<ipv4>:<port> or egress`,
    );
  });
}

/**
 * Joins two sockets; either side closing or failing ends both.
 * @param {import("node:net").Socket} a @param {import("node:net").Socket} b
 */
function splice(a, b) {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on("error", end);
  b.on("error", end);
  a.on("close", end);
  b.on("close", end);
}

function main() {
  const [side, dir, ...routes] = process.argv.slice(2);
  if ((side !== "machine" && side !== "node") || !dir || routes.length === 0) {
    process.stderr.write("usage: forward.mjs machine|node <socket dir> <route>...\n");
    process.exit(2);
  }
  let mine;
  try {
    mine = legs(side, dir, routes);
  } catch (err) {
    process.stderr.write(`forward: ${/** @type {Error} */ (err).message}\n`);
    process.exit(2);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  /** @type {import("node:net").Server[]} */
  const servers = [];
  for (const leg of mine) {
    if ("path" in leg.listen) rmSync(leg.listen.path, { force: true });
    const server = leg.connectProxy
      ? createServer(egressTunnel)
      : createServer({ pauseOnConnect: true }, (client) => {
          const upstream = connect(leg.target, () => client.resume());
          splice(client, upstream);
        });
    server.on("error", (err) => {
      process.stderr.write(`forward ${side} ${leg.name}: ${err.message}\n`);
      process.exit(1);
    });
    server.listen(leg.listen);
    servers.push(server);
  }
  process.stderr.write(`forward ${side}: ${routes.join(" ")}\n`);
  const stop = () => {
    for (const s of servers) s.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

// Run as a program; imported by tests, it only exports legs().
if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) main();
