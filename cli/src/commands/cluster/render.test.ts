import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ClusterStatus } from "../../cluster/index.ts";
import { renderDown, renderStatus, renderUp } from "./index.ts";

const status = (over: Partial<ClusterStatus> = {}): ClusterStatus => ({
  exists: true,
  healthy: true,
  dir: "/s/cluster",
  kubeconfig: "/s/cluster/kubeconfig",
  context: "imctl-embedded",
  server: "https://127.0.0.1:24101",
  components: [
    { id: "etcd", state: "running", pid: 10, port: 24100, endpoint: "http://127.0.0.1:24100", detail: "healthy" },
    { id: "kwok", state: "stopped", pid: null, port: 24104, endpoint: "http://127.0.0.1:24104", detail: "no process" },
  ],
  nodes: [{ name: "kwok-zone-a", zone: "zone-a", ready: true, type: "kwok" }],
  logs: "/s/cluster/logs",
  note: "pods do not run",
  ...over,
});

describe("imctl cluster: text output", () => {
  it("shows components, nodes, the kubeconfig and the verdict", () => {
    const text = renderStatus(status({ healthy: false }));
    assert.match(text, /^COMPONENT\s+STATE\s+PID\s+PORT\s+DETAIL$/m);
    assert.match(text, /^etcd\s+running\s+10\s+24100\s+healthy$/m);
    assert.match(text, /^kwok\s+stopped\s+-\s+24104\s+no process$/m);
    assert.match(text, /^kwok-zone-a\s+zone-a\s+Ready\s+kwok$/m);
    assert.match(
      text,
      /kubeconfig {2}\/s\/cluster\/kubeconfig \(context imctl-embedded, server https:\/\/127\.0\.0\.1:24101\)/,
    );
    assert.match(text, /note {8}pods do not run/);
    assert.match(text, /cluster: NOT healthy$/);
  });

  it("says how to create a cluster when there is none", () => {
    const text = renderStatus(status({ exists: false, healthy: false, kubeconfig: null, server: null, nodes: [] }));
    assert.match(text, /no embedded cluster: imctl cluster up creates one/);
  });

  it("says when up changed nothing", () => {
    const text = renderUp({ ...status(), alreadyRunning: true, started: [], reused: [], elapsedSeconds: 0.4 });
    assert.match(text, /already running: nothing changed/);
  });

  it("reports down, and a down with nothing to stop", () => {
    const base = {
      dir: "/s/cluster",
      stopped: [],
      removed: false,
      portsStillInUse: [],
      leftovers: [],
      elapsedSeconds: 0,
    };
    assert.equal(renderDown(base), "nothing to stop: there is no embedded cluster");
    const text = renderDown({ ...base, removed: true, stopped: [{ id: "etcd", pid: 10, outcome: "stopped" }] });
    assert.match(text, /^etcd\s+10\s+stopped$/m);
    assert.match(text, /deleted \/s\/cluster; no port left listening$/);
  });
});
