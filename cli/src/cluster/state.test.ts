import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseTokens, renderKubeconfig, tokenLine } from "./pki.ts";
import { type ClusterState, parseState, readState, writeState } from "./state.ts";
import { tempDir } from "../../../test/helpers/temp-dir.ts";

const good: ClusterState = {
  version: 1,
  createdAt: "2026-12-05T12:00:00.000Z",
  ports: {
    etcd: 24100,
    "kube-apiserver": 24101,
    "kube-controller-manager": 24102,
    "kube-scheduler": 24103,
    kwok: 24104,
    "etcd-peer": 24105,
  },
  pids: { etcd: 100, "kube-apiserver": 101 },
};

describe("cluster state file", () => {
  it("round-trips through writeState and readState (0600)", () => {
    const file = join(tempDir("state"), "state.json");
    assert.equal(readState(file), undefined);
    writeState(file, good);
    assert.deepEqual(readState(file), good);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(readFileSync(file, "utf8").endsWith("\n"));
  });

  it("names the first bad field", () => {
    const bad = (edit: (s: Record<string, unknown>) => void) => {
      const s = structuredClone(good) as unknown as Record<string, unknown>;
      edit(s);
      return () => parseState(JSON.stringify(s), "s.json");
    };
    assert.throws(() => parseState("{", "s.json"), /^Error: s.json: not JSON/);
    assert.throws(
      bad((s) => (s.version = 2)),
      /s.json: version is not 1/,
    );
    assert.throws(
      bad((s) => ((s.ports as Record<string, unknown>).kwok = 70000)),
      /s.json: ports.kwok is not a port number/,
    );
    assert.throws(
      bad((s) => delete (s.ports as Record<string, unknown>)["etcd-peer"]),
      /ports.etcd-peer is not a port number/,
    );
    assert.throws(
      bad((s) => (s.pids = { kubelet: 5 })),
      /pids.kubelet is not a component/,
    );
    assert.throws(
      bad((s) => (s.pids = { etcd: -1 })),
      /pids.etcd is not a process id/,
    );
  });

  it("accepts a state without pids (written before the first start)", () => {
    const { pids: _pids, ...rest } = good;
    assert.deepEqual(parseState(JSON.stringify(rest)).pids, {});
  });
});

describe("credentials", () => {
  it("writes token lines the API server reads and reads them back by user", () => {
    const text = [
      tokenLine("t1", "imctl-admin", ["system:masters"]),
      tokenLine("t2", "system:kube-scheduler", []),
    ].join("\n");
    assert.equal(text, 't1,imctl-admin,imctl-admin,"system:masters"\nt2,system:kube-scheduler,system:kube-scheduler');
    assert.deepEqual(
      [...parseTokens(text)],
      [
        ["imctl-admin", "t1"],
        ["system:kube-scheduler", "t2"],
      ],
    );
  });

  it("renders a kubeconfig with the CA embedded, a token and context imctl-embedded, never skipping TLS checks", () => {
    const cfg = JSON.parse(
      renderKubeconfig({ server: "https://127.0.0.1:24101", caPem: "PEM", user: "imctl-admin", token: "tok" }),
    ) as Record<string, any>;
    assert.equal(cfg["current-context"], "imctl-embedded");
    assert.equal(cfg.clusters[0].cluster.server, "https://127.0.0.1:24101");
    assert.equal(Buffer.from(cfg.clusters[0].cluster["certificate-authority-data"], "base64").toString(), "PEM");
    assert.equal(cfg.clusters[0].cluster["insecure-skip-tls-verify"], undefined);
    assert.deepEqual(cfg.users[0], { name: "imctl-admin", user: { token: "tok" } });
    assert.deepEqual(cfg.contexts[0], {
      name: "imctl-embedded",
      context: { cluster: "imctl-embedded", user: "imctl-admin" },
    });
  });
});
