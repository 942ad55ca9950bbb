/**
 * Where the drill's message probe meets a kubernetes platform. The Gateway's HTTPRoutes answer for the stack's host
 * name only, and on the embedded cluster that name resolves nowhere: clients reach Traefik on 127.0.0.1:<ingress
 * port> with the host in the Host header (what the loadtest command does with k6's `hosts` option). The probe's
 * client library takes a URL and nothing else, so the drill puts a relay of its own on 127.0.0.1: it forwards every
 * HTTP request and WebSocket upgrade to the ingress port with the stack's host as the Host header, byte for byte
 * otherwise, and closes a client's side when the platform closes its side (a drained gateway's close reaches the
 * probe as it would directly).
 */
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import type { KubernetesPlatformSpec } from "../../../../infra/lib/spec.ts";
import { embeddedIngress } from "../../cluster/edge.ts";
import type { Edge } from "../target.ts";

/** The platform's edge as the machine reaches it: a port on 127.0.0.1 and the Host the routes answer for. */
export interface EdgeAddress {
  port: number;
  /** The Host header, with the port as a client that resolved the name would send it. */
  host: string;
}

/** The embedded cluster's edge for this stack, or why the probe cannot reach it from here. */
export function embeddedEdge(spec: KubernetesPlatformSpec): EdgeAddress | { unreachable: string } {
  const ingress = embeddedIngress(spec);
  if (ingress === null)
    return {
      unreachable:
        "the probe reaches a platform's edge from here only on the embedded cluster with a real node for now",
    };
  if ("unreachable" in ingress)
    return {
      unreachable:
        "the stack's edge is reachable from here only on the embedded cluster with a real node " +
        `(imctl cluster up --nodes real, cluster.kubeconfig ${ingress.unreachable})`,
    };
  return { port: ingress.port, host: `${ingress.hostname}:${ingress.port}` };
}

export interface HostRelay {
  edge: Edge;
  close(): void;
}

/** Starts the relay on 127.0.0.1 (a free port); it does not keep the process alive by itself. */
export async function startHostRelay(to: EdgeAddress): Promise<HostRelay> {
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const up = http.request(
      {
        host: "127.0.0.1",
        port: to.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: to.host },
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.on("error", () => up.destroy());
    req.pipe(up);
  });
  server.on("upgrade", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const up = net.connect(to.port, "127.0.0.1");
    const lines = [`${req.method ?? "GET"} ${req.url ?? "/"} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i] ?? "";
      lines.push(`${name}: ${name.toLowerCase() === "host" ? to.host : (req.rawHeaders[i + 1] ?? "")}`);
    }
    up.on("connect", () => {
      up.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length > 0) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    // pipe() ends each side once the other has ended (a close frame flushed first); an error ends both at once.
    const destroy = () => {
      up.destroy();
      client.destroy();
    };
    up.on("error", destroy);
    client.on("error", destroy);
    up.on("close", () => client.end());
    client.on("close", () => up.end());
  });
  server.on("connection", (s) => {
    // The probe's own clients keep the process alive while they run; an idle keep-alive connection must not.
    s.unref();
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  server.unref();
  const { port } = server.address() as AddressInfo;
  return {
    edge: { http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}/ws` },
    close() {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}
