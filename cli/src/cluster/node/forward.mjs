#!/usr/bin/env node
// The embedded cluster's bridge between the machine's loopback and the real node's network namespace, over unix
// sockets (a unix socket is a file, so it is reachable from both namespaces; no interface, route or address of the
// machine changes). One process runs on each side:
//   node forward.mjs host <dir> <port>...   on the machine: <dir>/<port>.sock -> 127.0.0.1:<port>
//   node forward.mjs node <dir> <port>...   in the node's namespace: 0.0.0.0:<port> -> <dir>/<port>.sock
// so that inside the node (and, through the node's pod gateway, inside its pods) 127.0.0.1:<port> of the machine
// answers at the node's own address: the API server, and the data tier the stack names as external endpoints.
//   node forward.mjs expose <dir> <port>...  in the node's namespace: <dir>/x<port>.sock -> 127.0.0.1:<port>
//   node forward.mjs publish <dir> <port>... on the machine: 127.0.0.1:<port> -> <dir>/x<port>.sock
// carry traffic the other way: a port of the node's namespace (its traffic controller) on the machine's loopback.
// Plain JavaScript on purpose: it runs for the cluster's life with no TypeScript loader in memory.
import { createServer, connect } from "node:net";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";

const [mode, dir, ...rest] = process.argv.slice(2);
const ports = rest.map(Number);
const MODES = ["host", "node", "expose", "publish"];
if (!MODES.includes(mode ?? "") || !dir || ports.length === 0 || ports.some((p) => !(p > 0 && p < 65536))) {
  process.stderr.write(`usage: forward.mjs ${MODES.join("|")} <socket dir> <port>...\n`);
  process.exit(2);
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

/** @type {import("node:net").Server[]} */
const servers = [];
for (const port of ports) {
  let listenOn;
  let target;
  if (mode === "host" || mode === "expose") {
    const sock = join(dir, mode === "host" ? `${port}.sock` : `x${port}.sock`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    rmSync(sock, { force: true });
    listenOn = { path: sock };
    target = { host: "127.0.0.1", port };
  } else {
    listenOn = { host: mode === "node" ? "0.0.0.0" : "127.0.0.1", port };
    target = { path: join(dir, mode === "node" ? `${port}.sock` : `x${port}.sock`) };
  }
  const server = createServer({ pauseOnConnect: true }, (client) => {
    const upstream = connect(target, () => client.resume());
    splice(client, upstream);
  });
  server.on("error", (err) => {
    process.stderr.write(`forward ${mode} ${port}: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(listenOn);
  servers.push(server);
}
process.stderr.write(`forward ${mode}: ${ports.join(" ")}\n`);
const stop = () => {
  for (const s of servers) s.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
