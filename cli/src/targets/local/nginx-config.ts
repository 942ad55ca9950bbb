/**
 * Renders the nginx configuration of the local gateway tier. Pure: the same pool always renders the same text,
 * so tests assert on it and `setGatewayPool` can skip a reload when nothing changed.
 */
import { TOKEN_IN_URL } from "../../../../services/lib/protocol.ts";
import { UserError } from "../../errors.ts";

export interface Backend {
  /** Instance name, e.g. "gateway-1" or "gateway-canary-1". */
  id: string;
  /** host:port on loopback. */
  address: string;
}

/** The gateway upstream: stable instances, canary instances, and the share of new connections the canary gets. */
export interface GatewayPool {
  stable: Backend[];
  canary: Backend[];
  /** Percent of new connections sent to the canary instances, 0 to 100. */
  canaryWeight: number;
}

export const EMPTY_POOL: GatewayPool = { stable: [], canary: [], canaryWeight: 0 };

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * Per-server nginx weights so that the canary instances together get `canaryWeight` percent of new connections
 * and the stable ones the rest, each side split evenly. nginx weights are positive integers: a side whose share
 * is 0 is left out of the upstream rather than given weight 0.
 */
export function serverWeights(pool: GatewayPool): Array<{ backend: Backend; weight: number }> {
  const w = pool.canaryWeight;
  if (!Number.isInteger(w) || w < 0 || w > 100) {
    throw new UserError(`canaryWeight: got ${JSON.stringify(w)}; allowed: a whole number from 0 to 100`);
  }
  const s = pool.stable.length;
  const c = pool.canary.length;
  const stableShare = c === 0 ? 100 : 100 - w;
  const canaryShare = s === 0 ? 100 : w;
  // stable server weight : canary server weight = stableShare / s : canaryShare / c = stableShare * c : canaryShare * s
  let ws = stableShare * Math.max(c, 1);
  let wc = canaryShare * Math.max(s, 1);
  const g = gcd(ws, wc) || 1;
  ws /= g;
  wc /= g;
  return [
    ...(ws > 0 ? pool.stable.map((backend) => ({ backend, weight: ws })) : []),
    ...(wc > 0 ? pool.canary.map((backend) => ({ backend, weight: wc })) : []),
  ];
}

export interface NginxSettings {
  prefix: string;
  host: string;
  listenPort: number;
  statusPort: number;
  workerProcesses: number;
  workerConnections: number;
  workerShutdownTimeoutSeconds: number;
  /** Add `user root;` when nginx runs as root, so workers can use the state directory. */
  runAsRoot: boolean;
}

// Descriptors per worker: each proxied connection holds two, plus logs and listeners.
const RLIMIT_HEADROOM = 500;

/**
 * @param pool the gateway upstream (WebSocket connections and everything not under /v1/)
 * @param api the user-center instances, serving the account API under /v1/: a list, or a pool with a canary
 *   (a user-center rollout) whose share of requests is its weight
 */
export function renderNginxConf(cfg: NginxSettings, pool: GatewayPool, api: Backend[] | GatewayPool = []): string {
  const { upstream, route } = gatewayBlocks(pool);
  const { upstream: apiUpstream, route: apiRoute } = userCenterBlocks(api);
  return `# Rendered by imctl (cli/src/targets/local/nginx-config.ts); edits are overwritten.
${cfg.runAsRoot ? "user root;\n" : ""}daemon off;
master_process on;
worker_processes ${cfg.workerProcesses};
worker_rlimit_nofile ${cfg.workerConnections * 2 + RLIMIT_HEADROOM};
# After a reload, old workers keep their established WebSocket connections this long before closing them.
worker_shutdown_timeout ${cfg.workerShutdownTimeoutSeconds}s;
pid ${cfg.prefix}/nginx.pid;
error_log stderr warn;

events {
  worker_connections ${cfg.workerConnections};
  multi_accept on;
}

http {
  access_log off;
  client_body_temp_path ${cfg.prefix}/tmp/client_body;
  proxy_temp_path ${cfg.prefix}/tmp/proxy;
  fastcgi_temp_path ${cfg.prefix}/tmp/fastcgi;
  uwsgi_temp_path ${cfg.prefix}/tmp/uwsgi;
  scgi_temp_path ${cfg.prefix}/tmp/scgi;
  server_tokens off;

  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
  }

${upstream}${apiUpstream}
  server {
    listen ${cfg.host}:${cfg.listenPort} backlog=4096;

    location = /lb/healthz {
      default_type text/plain;
      return 200 "ok\\n";
    }

${apiRoute}    location / {
${route}
    }
  }

  server {
    listen ${cfg.host}:${cfg.statusPort};
    location = /stub_status {
      stub_status;
    }
  }
}
`;
}

/**
 * Passive health of a gateway in the upstream: this many failed attempts (refused or timed-out connects, 502/503
 * answers) within GATEWAY_FAIL_TIMEOUT_S take it out for that long. A dead gateway refuses at once, so it is out
 * after its first few attempts (each retried at another instance, unseen by the client); a live one that is slow to
 * accept during the reconnect burst after its peer died is not taken out by one slow connect.
 */
export const GATEWAY_MAX_FAILS = 3;
export const GATEWAY_FAIL_TIMEOUT_S = 5;

/**
 * The gateway upstream, and what `location /` does: proxy WebSockets to it, or 503 while there is none.
 *
 * Every instance is listed twice: once weighted, with passive health checks, and once as a `backup` that is never
 * marked down (max_fails=0). nginx uses the backups only when every weighted entry is marked down, which happened
 * when one gateway died: the reconnect burst marked the survivor down too, and nginx answered 502 "no live
 * upstreams" for seconds while it was healthy. With the backups, a request then tries each instance in turn (the
 * dead one refuses at once) and reaches the live one. Open-source nginx has no active health checks (`/readyz`
 * polling is nginx Plus only), so this is the passive equivalent.
 */
function gatewayBlocks(pool: GatewayPool): { upstream: string; route: string } {
  const servers = serverWeights(pool);
  const server = (x: { backend: Backend; weight: number }) =>
    `    server ${x.backend.address} weight=${x.weight} max_fails=${GATEWAY_MAX_FAILS} fail_timeout=${GATEWAY_FAIL_TIMEOUT_S}s; # ${x.backend.id}`;
  const backup = (x: { backend: Backend; weight: number }) =>
    `    server ${x.backend.address} max_fails=0 backup; # ${x.backend.id} when every entry above is marked down`;
  const upstream =
    servers.length === 0
      ? ""
      : `  upstream im_gateway {
${servers.map(server).join("\n")}
${servers.map(backup).join("\n")}
  }
`;
  const route =
    servers.length === 0
      ? `      default_type application/json;
      return 503 '{"error":"no_gateway_instances"}\\n';`
      : `      # A token in the URL is refused here, before it can reach an upstream error line of the log (the gateway
      # refuses it too); clients offer it as a subprotocol.
      # (default_type: the refusal's type; a proxied answer keeps its own.)
      default_type application/json;
      if ($arg_token) {
        return 400 '${JSON.stringify({ error: "token_in_url", message: TOKEN_IN_URL })}\n';
      }
      proxy_pass http://im_gateway;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Request-Id $request_id;
      proxy_connect_timeout 2s;
      # WebSocket connections live for hours; heartbeats keep them busy well within this.
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      proxy_next_upstream error timeout http_502 http_503;
      # Enough tries to pass every weighted entry and then every backup.
      proxy_next_upstream_tries ${Math.max(3, 2 * servers.length)};`;
  return { upstream, route };
}

/** The user-center upstream and its `location /v1/` (the account API); both empty without instances. */
function userCenterBlocks(api: Backend[] | GatewayPool): { upstream: string; route: string } {
  const servers = Array.isArray(api) ? api.map((backend) => ({ backend, weight: 1 })) : serverWeights(api);
  if (servers.length === 0) return { upstream: "", route: "" };
  const server = (x: { backend: Backend; weight: number }) =>
    `    server ${x.backend.address}${x.weight === 1 ? "" : ` weight=${x.weight}`} max_fails=1 fail_timeout=2s; # ${x.backend.id}`;
  const upstream = `  upstream im_user_center {
${servers.map(server).join("\n")}
    keepalive 32;
  }
`;
  const route = `    location /v1/ {
      proxy_pass http://im_user_center;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Request-Id $request_id;
      proxy_next_upstream error timeout http_502 http_503;
    }

`;
  return { upstream, route };
}
