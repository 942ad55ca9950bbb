/**
 * `imctl group` on the kubernetes target, against the embedded cluster's real node (issue 25): a group made through
 * the API at the edge (Traefik, through the drill's host relay), its status read from user-center's internal route
 * through the API server's service proxy (the route itself is not at the edge), then grown 1 -> 2 -> 3 sub-groups
 * (the message service's move routes, the same way) while a member sends; every online member is shown every message
 * once, in groupSeq order, with periodic sync off so what they get came through the sub-groups and the backfills. The
 * move's record and audit are under the stack's own state directory, and its lag looks read the stack's Prometheus.
 * Registered by test/integration/real-node.test.ts.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { parse } from "yaml";
import { clusterLayout } from "../../../cli/src/cluster/layout.ts";
import { readState } from "../../../cli/src/cluster/state.ts";
import { startHostRelay, type HostRelay } from "../../../cli/src/targets/kubernetes/drill-edge.ts";
import { prometheusAt } from "../../../cli/src/targets/kubernetes/prometheus.ts";
import { AccountApi } from "../../../services/lib/client/index.ts";
import { json, type EmbeddedContext } from "../../helpers/embedded.ts";
import { eventually, recorder, type Recorder } from "../../helpers/messaging.ts";
import { makeUsers } from "../../helpers/platform.ts";

const MEMBERS = 12;

export function groupsSuite(ctx: () => EmbeddedContext): void {
  let relay: HostRelay | undefined;
  const open: Recorder[] = [];
  let groupId = "";
  let stop = true;

  after(() => {
    stop = true;
    for (const r of open) r.client.close();
    relay?.close();
  });

  /** Everything the group commands printed, checked at the end for the internal token. */
  const printed: string[] = [];
  const run = async (args: string[]) => {
    const r = await ctx().run(args);
    printed.push(r.stdout, r.stderr);
    return r;
  };
  const status = async (id: string) => {
    const r = await run(["group", "status", id, "--stack", ctx().stack, "--json"]);
    assert.equal(r.exitCode, 0, r.stderr.slice(-3000));
    return json(r);
  };
  const movesDir = () => join(ctx().p.stateDir, "kubernetes", "embedded-cluster", "group-moves");
  const record = () =>
    JSON.parse(readFileSync(join(movesDir(), `${groupId}.json`), "utf8")) as {
      phase: string;
      moveId: string;
      measurements: Array<{ lagSeconds: number | null }>;
    };

  /** The first member sends to the group every 100 ms, each send acknowledged before the next; stop() says how many. */
  const sending = () => {
    const sender = open[0];
    assert.ok(sender);
    stop = false;
    const loop = (async () => {
      let i = 0;
      while (!stop) {
        await sender.client.send({ kind: "group", id: groupId }, `k8s-grow-${i++}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      return i;
    })();
    loop.catch(() => undefined);
    return {
      stop: async () => {
        stop = true;
        return loop;
      },
    };
  };

  /** Every member but the sender was shown groupSeq 1 to `head`, once each, in order (periodic sync is off). */
  const expectAllDelivered = async (head: number) => {
    const want = Array.from({ length: head }, (_, i) => i + 1);
    for (const m of open.slice(1)) {
      const got = () => m.received.filter((x) => x.to.id === groupId && x.from !== m.userId);
      await eventually(
        `${head} messages at ${m.userId}`,
        () => got().length >= head,
        60_000,
        () => `${got().length}`,
      );
      assert.deepEqual(
        got().map((x) => x.groupSeq),
        want,
        `member ${m.userId}: every message once, in groupSeq order`,
      );
      assert.deepEqual(m.anomalies, []);
    }
  };

  it("group status on kubernetes: a group made through the API, read through the API server, not at the edge", async () => {
    const c = ctx();
    const port = readState(clusterLayout(c.p.stateDir).state)?.realNode?.ingressPort;
    assert.ok(port, "the real node's ingress port in the cluster's state");
    const host = (parse(readFileSync(c.stack, "utf8")) as { kubernetes: { ingress: { host: string } } }).kubernetes
      .ingress.host;
    relay = await startHostRelay({ port, host: `${host}:${port}` });
    const api = new AccountApi(relay.edge.http);
    // Four at a time: each registration is a scrypt hash on user-center's 100m CPU; a burst of 12 right after the
    // deploy once got a 500 on this shared machine (the pod's database connect timed out, ETIMEDOUT).
    const users: Array<{ userId: string; token: string }> = [];
    while (users.length < MEMBERS) users.push(...(await makeUsers(api, 4, "k8sgroup")));
    for (const u of users) {
      const r = recorder(relay.edge.ws, u, { syncIntervalMs: 600_000 });
      await r.client.connect();
      open.push(r);
    }
    const g = await api.createGroup(
      users[0]!.token,
      "k8s-growing",
      users.slice(1).map((u) => u.userId),
    );
    groupId = g.groupId;
    const st = await status(groupId);
    assert.equal(st.memberCount, MEMBERS);
    assert.equal(st.subGroupCount, 1);
    assert.deepEqual(
      st.subGroups.map((s: { members: number }) => s.members),
      [MEMBERS],
    );
    const text = await run(["group", "status", groupId, "--stack", c.stack]);
    assert.equal(text.exitCode, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^group ${groupId} \\(k8s-growing\\): ${MEMBERS} members`, "m"));
    const unknown = await run(["group", "status", "7301234567890123456", "--stack", c.stack]);
    assert.equal(unknown.exitCode, 2, unknown.stderr);
    assert.match(unknown.stderr, /no such group on this platform/);
    // The internal routes are not routed at the edge: with or without a token, the Gateway answers 404.
    const edge = await fetch(`${relay.edge.http}/internal/v1/groups/${groupId}/sub-groups`, {
      headers: { "x-im-internal": "not-the-token-0123456789" },
    });
    const body = await edge.text();
    assert.equal(edge.status, 404, body.slice(0, 200));
    assert.ok(!body.includes("subGroupCount"), body.slice(0, 200));
  });

  it("grows the group on kubernetes 1 -> 2 -> 3 sub-groups while a member sends: nothing lost, repeated or reordered", async (t) => {
    const c = ctx();
    assert.ok(groupId, "the status test made the group");
    const sender = sending();
    const first = await run(["group", "grow", groupId, "--sub-groups", "2", "--step-pause", "1s", "--stack", c.stack]);
    assert.equal(first.exitCode, 0, first.stderr.slice(-3000));
    assert.match(first.stdout, /grow 1 -> 2 sub-groups, move \S+: Succeeded/);
    assert.deepEqual(
      [...first.stderr.matchAll(/step ([0-9])\/3 \(([0-9]+) %\)/g)].map((m) => `${m[1]}:${m[2]}`),
      ["1:10", "2:30", "3:100"],
    );
    // Sub-grouped now: the message pods report each sub-group's fan-out lag, scraped by the stack's Prometheus.
    const spec = parse(readFileSync(c.stack, "utf8")) as { kubernetes: { prometheus: { service: string } } };
    const prometheus = prometheusAt({ service: spec.kubernetes.prometheus.service, kc: c.kc });
    const lagQuery = `max(im_message_subgroup_fanout_lag_seconds{group="${groupId}"})`;
    let samples = 0;
    for (const deadline = Date.now() + 90_000; samples === 0 && Date.now() < deadline;) {
      samples = (await prometheus.query(lagQuery).catch(() => [])).length;
      if (samples === 0) await new Promise((r) => setTimeout(r, 2000));
    }
    assert.ok(samples > 0, `no ${lagQuery} in the cluster's Prometheus after 90 s`);

    const second = await run([
      "group",
      "grow",
      groupId,
      "--sub-groups",
      "3",
      "--step-pause",
      "3s",
      // Three looks a step: on a shared machine the platform-wide delivery p99 can pass the 1 s default on all three
      // (see the rollback test); this test is about the lag looks and delivery, so the p99 limit is raised.
      "--max-latency-p99",
      "60",
      "--stack",
      c.stack,
      "--json",
    ]);
    assert.equal(second.exitCode, 0, second.stderr.slice(-3000));
    const r = json(second);
    assert.equal(r.phase, "Succeeded", JSON.stringify(r));
    assert.equal(r.fromSubGroups, 2);
    assert.equal(r.toSubGroups, 3);
    assert.equal(r.switched, r.moving);
    const sent = await sender.stop();
    const st = await status(groupId);
    assert.equal(st.subGroupCount, 3);
    assert.equal(st.headSeq, sent);
    assert.equal(st.move?.state, "done");
    assert.deepEqual(
      st.subGroups.map((s: { pendingMoves: number }) => s.pendingMoves),
      [0, 0, 0],
    );
    // The workflow's record and audit, under the stack's state directory; its looks read the lag from Prometheus.
    const rec = record();
    assert.equal(rec.phase, "Succeeded");
    assert.equal(rec.moveId, r.moveId);
    assert.ok(
      rec.measurements.some((m) => m.lagSeconds !== null),
      `a look read the lag: ${JSON.stringify(rec.measurements)}`,
    );
    const audit = readFileSync(join(movesDir(), "audit.jsonl"), "utf8").trim().split("\n");
    const ours = audit
      .map((l) => JSON.parse(l) as { subject: string; action: string })
      .filter((a) => a.subject === groupId);
    assert.ok(ours.filter((a) => a.action === "Succeeded").length >= 2, JSON.stringify(ours));
    assert.equal(existsSync(join(c.p.stateDir, "kubernetes", "embedded-cluster", "lock")), false, "lock released");

    t.diagnostic(`${sent} messages sent; second move: ${r.moving} of ${MEMBERS} members moved`);
    t.diagnostic(`lag looks: ${rec.measurements.map((m) => m.lagSeconds).join(", ")}`);
    await expectAllDelivered(sent);
  });

  it("rolls a move back on kubernetes from a second imctl: the grow exits 1 rolled back, sub-groups as before, nothing lost", async () => {
    const c = ctx();
    assert.ok(groupId, "the status test made the group");
    const before = await status(groupId);
    const previous = record().moveId;
    const sender = sending();
    const grow = run([
      "group",
      "grow",
      groupId,
      "--sub-groups",
      "6",
      "--step-pause",
      "60s",
      // The platform-wide delivery p99 on a shared test machine is above the 1 s default: with it, the analysis rolled
      // the move back by itself within the 60 s pause (seen), before the operator's rollback this test is about.
      "--max-latency-p99",
      "60",
      "--stack",
      c.stack,
      "--json",
    ]);
    // While the move's first step is observed (its record has a look), an operator rolls it back from elsewhere.
    await eventually(
      "the new move's first look",
      () => {
        try {
          const r = record();
          return r.moveId !== previous && r.measurements.length > 0;
        } catch {
          return false;
        }
      },
      120_000,
    );
    const rb = await run(["group", "rollback", groupId, "--stack", c.stack, "--yes", "--json"]);
    assert.equal(rb.exitCode, 0, rb.stderr.slice(-3000));
    assert.equal(json(rb).phase, "RolledBack");
    const g = await grow;
    assert.equal(g.exitCode, 1, g.stderr.slice(-3000));
    const r = json(g);
    assert.equal(r.phase, "RolledBack");
    assert.match(r.reason, /^rollback asked by /);
    const sent = await sender.stop();
    const st = await status(groupId);
    assert.equal(st.subGroupCount, 3);
    assert.equal(st.move?.state, "rolled_back");
    // The group's timeline carries on from the earlier tests' messages.
    assert.equal(st.headSeq, before.headSeq + sent);
    assert.deepEqual(
      st.subGroups.map((s: { members: number }) => s.members),
      before.subGroups.map((s: { members: number }) => s.members),
    );
    await expectAllDelivered(st.headSeq);
    for (const m of open) m.client.close();
    // The internal token went as a header only: not in any output, record or audit line.
    const secret = await c.kc
      .makeApiClient(k8s.CoreV1Api)
      .readNamespacedSecret({ name: "im-platform-secrets", namespace: "im" });
    const token = Buffer.from(secret.data?.INTERNAL_TOKEN ?? "", "base64").toString("utf8");
    assert.ok(token.length >= 16, "the platform's internal token");
    for (const out of printed) assert.ok(!out.includes(token), "an imctl output quotes the internal token");
    for (const f of readdirSync(movesDir()))
      assert.ok(!readFileSync(join(movesDir(), f), "utf8").includes(token), `${f} quotes the internal token`);
    const none = await run(["group", "rollback", groupId, "--stack", c.stack, "--yes"]);
    assert.equal(none.exitCode, 2, "nothing to roll back once the move is closed");
    assert.match(none.stderr, /has no open move to roll back/);
  });
}
