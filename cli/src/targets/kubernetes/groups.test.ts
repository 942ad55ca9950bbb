import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ExitError } from "../../errors.ts";
import { GroupMoveRefusal } from "../target.ts";
import type { KubernetesAccess } from "./access.ts";
import type { ApiAnswer } from "./api-http.ts";
import { KUBERNETES_GROUP_MESSAGES, kubernetesGroupTarget, PROXY_ATTEMPTS, type ServiceCall } from "./groups.ts";
import type { PrometheusClient } from "./prometheus.ts";

const TOKEN = "internal-token-0123456789-secret";
const STACK = "/stacks/embedded-cluster.yaml";

interface Seen {
  service: string;
  method: string;
  path: string;
  body: string | undefined;
  headers: Record<string, string>;
}

/** What the API server's service proxy answers, in order; a thrown Error is a transport failure. */
function proxy(answers: Array<ApiAnswer | Error>) {
  const seen: Seen[] = [];
  const call: ServiceCall = async (service, method, path, o) => {
    seen.push({ service, method, path, body: o.body, headers: o.headers });
    const a = answers.shift() ?? { status: 599, body: "no answer scripted" };
    if (a instanceof Error) throw a;
    return a;
  };
  return { seen, call };
}

let tokenReads = 0;
function target(answers: Array<ApiAnswer | Error>, prometheus: PrometheusClient | null = null) {
  const p = proxy(answers);
  const access = {
    kind: "kubernetes",
    stack: STACK,
    namespace: "im",
    prometheus,
    stateDir: "/nowhere",
    withLock: <T>(_c: string, fn: () => Promise<T>) => fn(),
  } as unknown as KubernetesAccess;
  const t = kubernetesGroupTarget(access, {
    call: p.call,
    token: async () => {
      tokenReads++;
      return TOKEN;
    },
    retryPauseMs: 0,
  });
  return { t, seen: p.seen };
}

const ok = (v: unknown): ApiAnswer => ({ status: 200, body: JSON.stringify(v) });
const apiStatus = (status: number, reason: string, message: string): ApiAnswer => ({
  status,
  body: JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason, message, code: status }),
});
const exitError = (message: string) => (err: unknown) => err instanceof ExitError && err.message === message;

describe("imctl group on kubernetes: the internal routes through the API server's service proxy", () => {
  it("status goes to user-center's internal route with the internal token as a header; 404 is no group", async () => {
    tokenReads = 0;
    const { t, seen } = target([ok({ groupId: "7" }), { status: 404, body: '{"error":"not_found"}' }]);
    assert.deepEqual(await t.groupStatus("7"), { groupId: "7" });
    assert.equal(await t.groupStatus("8"), null);
    assert.deepEqual(
      seen.map((s) => [s.service, s.method, s.path, s.body]),
      [
        ["user-center", "GET", "/internal/v1/groups/7/sub-groups", undefined],
        ["user-center", "GET", "/internal/v1/groups/8/sub-groups", undefined],
      ],
    );
    for (const s of seen) assert.equal(s.headers["x-im-internal"], TOKEN);
    assert.equal(tokenReads, 1, "the Secret is read once per command");
    assert.equal(t.kind, "kubernetes");
    assert.equal(t.stateDir, "/nowhere");
  });

  it("every move step goes to the message service's route of that step, with its body", async () => {
    const move = { move: { moveId: "m" }, changed: 1 };
    const { t, seen } = target([ok({ move: null }), ok(move), ok(move), ok(move), ok(move)]);
    await t.groupMove("7", "get");
    await t.groupMove("7", "plan", { subGroups: 3 });
    assert.deepEqual(await t.groupMove("7", "switch", { limit: 50 }), move);
    await t.groupMove("7", "finish");
    await t.groupMove("7", "rollback", { limit: 50 });
    assert.deepEqual(
      seen.map((s) => [s.service, s.method, s.path, s.body]),
      [
        ["message", "GET", "/internal/v1/groups/7/move", undefined],
        ["message", "POST", "/internal/v1/groups/7/move", '{"subGroups":3}'],
        ["message", "POST", "/internal/v1/groups/7/move/switch", '{"limit":50}'],
        ["message", "POST", "/internal/v1/groups/7/move/finish", "{}"],
        ["message", "POST", "/internal/v1/groups/7/move/rollback", '{"limit":50}'],
      ],
    );
  });

  it("the platform's refusals and 'not now' are the workflow's to judge, not retried here", async () => {
    const { t, seen } = target([
      { status: 409, body: JSON.stringify({ error: "move_open", message: "a move is open" }) },
      { status: 503, body: JSON.stringify({ error: "overloaded", message: "database queue full" }) },
    ]);
    await assert.rejects(
      t.groupMove("7", "plan", { subGroups: 3 }),
      (e: unknown) => e instanceof GroupMoveRefusal && e.status === 409 && e.code === "move_open",
    );
    await assert.rejects(
      t.groupMove("7", "switch", { limit: 5 }),
      (e: unknown) => e instanceof GroupMoveRefusal && e.status === 503 && e.code === "overloaded",
    );
    assert.equal(seen.length, 2);
  });

  it("an endpoint that failed (no endpoints, a 5xx, no answer) is tried again; the API server picks another", async () => {
    const { t, seen } = target([
      apiStatus(503, "ServiceUnavailable", 'no endpoints available for service "message"'),
      { status: 500, body: '{"error":"internal"}' },
      ok({ move: { moveId: "m" }, changed: 0 }),
    ]);
    await t.groupMove("7", "switch", { limit: 5 });
    assert.equal(seen.length, 3);
    const down = target([new Error("connect ECONNREFUSED 127.0.0.1:6443"), { status: 502, body: "" }, ok({})]);
    await down.t.groupStatus("7");
    const never = target([]);
    await assert.rejects(
      never.t.groupStatus("7"),
      exitError(
        KUBERNETES_GROUP_MESSAGES.noAnswer(
          "group status",
          "im",
          "user-center",
          Array.from({ length: PROXY_ATTEMPTS }, () => "HTTP 599"),
          STACK,
        ),
      ),
    );
  });

  it("the API server's refusal and a missing Service end the command at once, naming what is needed", async () => {
    const forbidden = apiStatus(403, "Forbidden", 'services "message" is forbidden: User "ops" cannot create');
    const f = target([forbidden]);
    await assert.rejects(
      f.t.groupMove("7", "plan", { subGroups: 2 }),
      exitError(
        KUBERNETES_GROUP_MESSAGES.forbidden(
          "im",
          "message",
          'HTTP 403 Forbidden: services "message" is forbidden: User "ops" cannot create',
        ),
      ),
    );
    assert.equal(f.seen.length, 1);
    const missing = target([apiStatus(404, "NotFound", 'services "user-center" not found')]);
    await assert.rejects(
      missing.t.groupStatus("7"),
      exitError(
        KUBERNETES_GROUP_MESSAGES.noService("im", "user-center", 'HTTP 404 NotFound: services "user-center" not found'),
      ),
    );
  });

  it("a refused internal token, or a transport error quoting a URL's credentials, never shows a secret", async () => {
    const refused = target([{ status: 403, body: JSON.stringify({ error: "forbidden", message: "internal route" }) }]);
    const errors: string[] = [];
    await refused.t.groupStatus("7").catch((e: Error) => errors.push(e.message));
    const leaky = target([
      new Error("request to https://ops:s3cret@10.0.0.1/api failed"),
      new Error("request to https://ops:s3cret@10.0.0.1/api failed"),
      new Error("request to https://ops:s3cret@10.0.0.1/api failed"),
    ]);
    await leaky.t.groupMove("7", "get").catch((e: Error) => errors.push(e.message));
    assert.equal(errors[0], KUBERNETES_GROUP_MESSAGES.tokenRefused("im", "user-center"));
    assert.match(errors[1] ?? "", /https:\/\/\*\*\*@10\.0\.0\.1/);
    for (const e of errors) assert.ok(!e.includes(TOKEN) && !e.includes("s3cret"), e);
  });

  it("lag checks go to the stack's Prometheus; without one there is no metrics source", async () => {
    const asked: string[] = [];
    const prometheus = {
      where: "service im-observability/prometheus:9090 (through the API server)",
      query: async (q: string) => {
        asked.push(q);
        return [{ labels: {}, value: 1.5 }];
      },
      queryRange: async () => [],
    };
    const { t } = target([], prometheus);
    assert.equal(t.metricsSource(), prometheus.where);
    assert.deepEqual(await t.query("max(x)"), [{ labels: {}, value: 1.5 }]);
    assert.deepEqual(asked, ["max(x)"]);
    const bare = target([]);
    assert.equal(bare.t.metricsSource(), null);
    await assert.rejects(bare.t.query("max(x)"), /no Prometheus/);
  });
});
