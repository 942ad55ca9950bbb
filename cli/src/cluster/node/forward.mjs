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
// Plain JavaScript on purpose: it runs for the cluster's life with no TypeScript loader in memory.
import { createServer, connect } from "node:net";
import { mkdirSync, realpathSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * @typedef {{ listen: { path: string } | { host: string, port: number }, target: { path: string } | { host: string, port: number }, name: string }} Leg
 */

const PORT = /^\d{1,5}$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const validPort = (/** @type {string} */ s) => PORT.test(s) && Number(s) > 0 && Number(s) < 65536;

/**
 * This side's half of each route, or an error naming the bad route.
 * @param {"machine" | "node"} side @param {string} dir @param {string[]} routes
 * @returns {Leg[]}
 */
export function legs(side, dir, routes) {
  return routes.map((route) => {
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
    throw new Error(
      `route: got ${JSON.stringify(route.slice(0, 80))}; allowed: reach:<port> or publish:<port>:<ipv4>:<port>`,
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
    const server = createServer({ pauseOnConnect: true }, (client) => {
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
