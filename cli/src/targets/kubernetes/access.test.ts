/**
 * Opening a kubernetes stack: the stack's kubeconfig and context, the namespace, the Prometheus it names, and one line
 * naming the field for each thing that is wrong, before anything is contacted.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse, stringify } from "yaml";
import { REPO_ROOT } from "../../../../base/root.mjs";
import { parseSpec } from "../../../../infra/lib/spec.ts";
import { UserError } from "../../errors.ts";
import { ACCESS_MESSAGES, kubernetesAccess } from "./access.ts";
import { tempDir } from "../../../../test/helpers/temp-dir.ts";

const dir = tempDir("access");
process.env.IMCTL_STATE_DIR = join(dir, "state");

const kubeconfig = {
  apiVersion: "v1",
  kind: "Config",
  clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:6443" } }],
  users: [{ name: "u", user: { token: "not-a-real-token" } }],
  contexts: [
    { name: "imctl-embedded", context: { cluster: "c", user: "u" } },
    { name: "other", context: { cluster: "c", user: "u" } },
  ],
  "current-context": "other",
};

function stack(edit: (s: Record<string, any>) => void = () => undefined): string {
  const s = parse(readFileSync(join(REPO_ROOT, "stacks", "embedded-cluster.yaml"), "utf8")) as Record<string, any>;
  const kc = join(dir, "kubeconfig");
  writeFileSync(kc, JSON.stringify(kubeconfig));
  s.cluster.kubeconfig = kc;
  edit(s);
  const file = join(mkdtempSync(join(dir, "stack-")), "embedded-cluster.yaml");
  writeFileSync(file, stringify(s));
  return file;
}

const userError = (message: string | RegExp) => (err: unknown) =>
  err instanceof UserError && (typeof message === "string" ? err.message === message : message.test(err.message));

test("an existing-cluster stack opens with its own kubeconfig and context, namespace and Prometheus Service", async () => {
  const a = await kubernetesAccess(stack());
  assert.equal(a.kc.getCurrentContext(), "imctl-embedded", "the stack's context, not the file's current one");
  assert.equal(a.namespace, "im");
  assert.equal(a.prometheus?.where, "service im-observability/prometheus:9090 (through the API server)");
  assert.match(a.stateDir, /kubernetes\/embedded-cluster$/);
  const b = await kubernetesAccess(stack(), { namespace: "im-2", context: "other", prometheus: "http://127.0.0.1:9" });
  assert.equal(b.kc.getCurrentContext(), "other");
  assert.equal(b.namespace, "im-2");
  assert.equal(b.prometheus?.where, "http://127.0.0.1:9");
  const none = await kubernetesAccess(stack((s) => delete s.kubernetes.prometheus));
  assert.equal(none.prometheus, null);
});

test("a bad flag, context or kubeconfig is one line naming it, before anything is contacted", async () => {
  await assert.rejects(
    kubernetesAccess(stack(), { prometheus: "ftp://x" }),
    userError(ACCESS_MESSAGES.prometheusFlag("ftp://x")),
  );
  await assert.rejects(
    kubernetesAccess(stack(), { context: "prod" }),
    userError(ACCESS_MESSAGES.context("prod", ["imctl-embedded", "other"])),
  );
  await assert.rejects(
    kubernetesAccess(stack((s) => (s.cluster.kubeconfig = join(dir, "missing")))),
    userError(/^kubeconfig: cannot load ".*missing"/),
  );
});

test("kubernetes.prometheus takes exactly one of url or service, each in its own form", () => {
  const raw = (p: unknown) => {
    const s = parse(readFileSync(join(REPO_ROOT, "stacks", "embedded-cluster.yaml"), "utf8")) as Record<string, any>;
    s.kubernetes.prometheus = p;
    return s;
  };
  assert.equal(
    parseSpec(raw({ url: "https://prom.example.com" }), "s").kubernetes?.prometheus?.scrapeIntervalSeconds,
    30,
  );
  assert.throws(() => parseSpec(raw({}), "s"), /kubernetes.prometheus: .*exactly one of url or service/);
  assert.throws(
    () => parseSpec(raw({ url: "https://p", service: "a/b:1" }), "s"),
    /kubernetes.prometheus: .*exactly one of url or service/,
  );
  assert.throws(
    () => parseSpec(raw({ service: "prometheus" }), "s"),
    /kubernetes.prometheus.service: got "prometheus"/,
  );
  assert.throws(() => parseSpec(raw({ url: "ftp://p" }), "s"), /kubernetes.prometheus.url: got "ftp:\/\/p"/);
});

test("opening creates no state: the state directory appears with the first lock or record", async () => {
  const a = await kubernetesAccess(stack());
  assert.equal(existsSync(a.stateDir), false, `${a.stateDir} was created by a read-only open`);
  assert.equal(existsSync(process.env.IMCTL_STATE_DIR ?? ""), false);
  const seen = await a.withLock("imctl test", async () => existsSync(join(a.stateDir, "lock")));
  assert.equal(seen, true, "the lock is taken in a directory created for it");
  assert.equal(existsSync(join(a.stateDir, "lock")), false, "and released");
});
