/**
 * Bad input, class by class (issue 24): each case is imctl run as an operator runs it, in a subprocess with a small
 * heap (so a validation that allocates per replica dies here, not after a minute), its own state directory, and the
 * same verdict: exit 2, one line on stderr naming the file or flag, no file content echoed, nothing changed.
 * Needs no platform: every case is refused before a target is touched.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse, stringify } from "yaml";
import type { Command, Option } from "commander";
import { REPO_ROOT } from "../base/root.mjs";
import { buildProgram } from "../cli/src/cli.ts";
import { imctl, tempDir, type ImctlRun } from "./helpers/imctl.ts";
import { treeHash } from "./helpers/tree-hash.ts";

/** The cases are independent subprocesses: run a few at once. */
const PAR = { concurrency: 4 };

/** Small enough that building one entry per replica of 100,000,000 runs out at once; imctl itself needs ~60 MB. */
const HEAP = "--max-old-space-size=160";

/** A stack file named local.yaml (the name must match) with `edit` applied to stacks/local.yaml. */
function localStack(edit: (s: Record<string, any>) => void): string {
  const s = parse(readFileSync(join(REPO_ROOT, "stacks", "local.yaml"), "utf8")) as Record<string, any>;
  edit(s);
  const file = join(tempDir("bad-stack"), "local.yaml");
  writeFileSync(file, stringify(s));
  return file;
}

function file(name: string, content: string | Buffer): string {
  const f = join(tempDir("bad-file"), name);
  writeFileSync(f, content);
  return f;
}

/** A state directory holding a recorded (stopped) platform brought up from stacks/local.yaml. */
function recordedState(): string {
  const dir = join(tempDir("bad-state"), "state");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "state.json"),
    JSON.stringify({ version: 1, stack: join(REPO_ROOT, "stacks", "local.yaml"), components: {} }),
  );
  return dir;
}

/** Runs imctl with a small heap and its own state dir; asserts exit 2, one stderr line, and no state change. */
async function refused(args: string[], opts: { state?: string; json?: boolean } = {}): Promise<string> {
  const state = opts.state ?? join(tempDir("bad-state"), "state");
  const before = treeHash(state);
  const r: ImctlRun = await imctl(args, { IMCTL_STATE_DIR: state, NODE_OPTIONS: HEAP }, 60_000);
  assert.equal(r.exitCode, 2, `imctl ${args.join(" ")}: exit ${r.exitCode}\n${r.stderr.slice(0, 2000)}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `imctl ${args.join(" ")}: expected one line, got:\n${r.stderr.slice(0, 2000)}`);
  if (opts.json !== true) assert.equal(r.stdout, "", `stdout of a refused command: ${r.stdout.slice(0, 500)}`);
  assert.equal(treeHash(state), before, `imctl ${args.join(" ")} changed ${state}`);
  return lines[0] ?? "";
}

describe("bad input: a failed bound stops validation", PAR, () => {
  it("services.gateway.replicas: 100000000 is refused at once, not after building a port per replica", async () => {
    const stack = localStack((s) => (s.services.gateway.replicas = 100_000_000));
    const line = await refused(["doctor", "--stack", stack]);
    assert.equal(line, `imctl: ${stack}: services.gateway.replicas: got 100000000; must be at most 1000`);
  });
});

describe("bad input: no file content in errors", PAR, () => {
  it("a .env given as --stack is named and described, its passwords never printed", async () => {
    const env = file(".env", "DB_PASSWORD=hunter2-secret\nAPI_KEY=abcdef0123456789\n");
    const line = await refused(["plan", "--stack", env]);
    assert.ok(!line.includes("hunter2") && !line.includes("abcdef"), line);
    assert.match(line, new RegExp(`^imctl: ${env.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: \\(root\\): got a string`));
  });

  it("a PEM key given as --stack is never printed", async () => {
    const pem = file(
      "key.yaml",
      `-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n`,
    );
    const line = await refused(["local", "status", "--stack", pem]);
    assert.ok(!line.includes("MIIE") && !line.includes("PRIVATE"), line);
  });

  it("an unknown key is named with the keys allowed beside it, not the document", async () => {
    const stack = localStack((s) => (s.data.redis.replica = 1));
    const line = await refused(["doctor", "--stack", stack]);
    assert.equal(
      line,
      `imctl: ${stack}: data.redis.replica: unknown field; allowed here: primaries, replicasPerPrimary`,
    );
  });

  it("a long value is quoted as an excerpt of 80 characters", async () => {
    const stack = localStack((s) => (s.local.bindAddress = `127.0.0.1${"9".repeat(5000)}`));
    const line = await refused(["doctor", "--stack", stack]);
    const quoted = /got "([^"]*)"/.exec(line)?.[1] ?? "";
    assert.ok(quoted.length <= 81 && line.length < 400, line);
    assert.match(line, /local\.bindAddress: got "127\.0\.0\.19+…" \(5009 characters\)/);
  });
});

describe("bad input: size limits name the limit", PAR, () => {
  const big = `# ${"x".repeat(2 * 1024 * 1024)}\n`;
  it("a stack file over 1 MiB", async () => {
    const f = file("local.yaml", big);
    assert.equal(
      await refused(["doctor", "--stack", f]),
      `imctl: ${f}: the stack file is larger than the limit of 1 MiB (a stack file is a few KB of YAML)`,
    );
  });

  it("a plan file over 1 MiB", async () => {
    const f = file("plan.yaml", big);
    assert.match(
      await refused(["bandwidth", "upgrade", "--plan", f]),
      /the plan file is larger than the limit of 1 MiB/,
    );
  });

  it("a strategy file over 1 MiB", async () => {
    const f = file("strategy.yaml", big);
    assert.match(
      await refused(["rollout", "start", "gateway", "--version", "1.0.0", "--strategy", f], { state: recordedState() }),
      /the strategy file is larger than the limit of 1 MiB/,
    );
  });

  it("a device or a directory as --stack", async () => {
    assert.match(
      await refused(["doctor", "--stack", "/dev/zero"]),
      /\/dev\/zero: the stack file is not a regular file/,
    );
    const dir = join(tempDir("bad-dir"), "local.yaml");
    mkdirSync(dir);
    assert.match(await refused(["doctor", "--stack", dir]), /the stack file is a directory/);
  });
});

describe("bad input: a YAML alias bomb", PAR, () => {
  it("is exit 2 naming the file", async () => {
    const rows = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (const [k, prev] of [
      ["b", "a"],
      ["c", "b"],
      ["d", "c"],
      ["e", "d"],
      ["f", "e"],
      ["g", "f"],
    ])
      rows.push(`${k}: &${k} [${Array(9).fill(`*${prev}`).join(", ")}]`);
    const f = file("local.yaml", `${rows.join("\n")}\n`);
    assert.match(await refused(["doctor", "--stack", f]), new RegExp(`^imctl: ${f}: .*YAML aliases beyond the limit`));
  });
});

describe("bad input: a flag the command cannot honour is refused", PAR, () => {
  it("local status --stack <garbage> with a recorded platform", async () => {
    const garbage = file("garbage.yaml", "garbage\n");
    assert.match(await refused(["local", "status", "--stack", garbage], { state: recordedState() }), /garbage\.yaml/);
  });

  it("doctor --stack <another valid stack> than the recorded one", async () => {
    const other = localStack(() => undefined);
    assert.match(
      await refused(["doctor", "--stack", other], { state: recordedState() }),
      /^imctl: --stack: got ".*local\.yaml"; the platform on this target was brought up from/,
    );
  });
});

describe("bad input: flags ignored by the rest of the command line", PAR, () => {
  it("loadtest run --stack with an edge URL as --target (found by the fuzz test: it ran k6)", async () => {
    const garbage = file("garbage.yaml", "garbage\n");
    assert.match(
      await refused(["loadtest", "run", "smoke", "--target", "http://127.0.0.1:1", "--stack", garbage]),
      /^imctl: --stack: got ".*garbage\.yaml"; a stack is read only with --target local/,
    );
  });

  it("drill run --seed with a fault that picks no instance", async () => {
    assert.equal(
      await refused(["drill", "run", "redis-primary", "--seed", "5"]),
      "imctl: --seed: only random-instance, pod-kill, zone-loss pick with a seed (got it with redis-primary)",
    );
  });

  it("bandwidth upgrade --resume with --plan", async () => {
    const plan = file("plan.yaml", "x: 1\n");
    assert.match(
      await refused(["bandwidth", "upgrade", "--resume", "--plan", plan, "--yes"], { state: recordedState() }),
      /^imctl: --plan: --resume continues the recorded upgrade/,
    );
  });
});

describe("bad input: usage errors are one line", PAR, () => {
  it("an unknown option: the error, then where the help is", async () => {
    assert.equal(
      await refused(["local", "status", "--bogus"]),
      "imctl: unknown option '--bogus'; see imctl local status --help",
    );
  });

  it("under --json, one JSON object on stdout", async () => {
    const state = join(tempDir("bad-state"), "state");
    const r = await imctl(["local", "status", "--bogus", "--json"], { IMCTL_STATE_DIR: state });
    assert.equal(r.exitCode, 2);
    assert.deepEqual(JSON.parse(r.stdout), {
      error: "unknown option '--bogus'; see imctl local status --help",
      exitCode: 2,
    });
  });

  it("a group without its subcommand", async () => {
    assert.equal(
      await refused(["drill"]),
      "imctl: imctl drill needs a subcommand (run, restore); see imctl drill --help",
    );
  });
});

describe("bad input: every number has a range, checked before --yes", PAR, () => {
  it("drill run --budget 99999999999999999999m", async () => {
    assert.match(
      await refused(["drill", "run", "redis-primary", "--budget", "99999999999999999999m"]),
      /^imctl: --budget: got "99999999999999999999m"; allowed: 1s to 60m, a number with ms, s, m; see imctl drill run --help$/,
    );
  });

  it("drill run --instance gateway-99 names the gateways the stack has", async () => {
    assert.equal(
      await refused(["drill", "run", "gateway-instance", "--instance", "gateway-99"], { state: recordedState() }),
      'imctl: --instance: got "gateway-99"; allowed for gateway-instance: gateway-1, gateway-2',
    );
  });

  it("loadtest testrun --duration 0s and --vus 100000000000 print no manifest", async () => {
    const t = ["loadtest", "testrun", "messaging", "--target", "http://edge.example"];
    assert.match(
      await refused([...t, "--duration", "0s"]),
      /^imctl: --duration: got "0s"; allowed: 1s to 24h, a number with ms, s, m, h; see/,
    );
    assert.match(await refused([...t, "--vus", "100000000000"]), /^imctl: --vus: got "100000000000"; allowed: a whole/);
  });

  it("bandwidth plan --target-utilisation 1e-300 writes no plan", async () => {
    const out = join(tempDir("bad-plan"), "plan.yaml");
    assert.match(
      await refused(["bandwidth", "plan", "--target-utilisation", "1e-300", "--out", out]),
      /^imctl: --target-utilisation: got "1e-300"; allowed: a share from 0.1 to 0.95/,
    );
    assert.equal(existsSync(out), false);
  });

  it("doctor --min-disk-free 101", async () => {
    assert.match(await refused(["doctor", "--min-disk-free", "101"]), /^imctl: --min-disk-free: got "101"; allowed/);
  });

  it("group status with a group id that is not a decimal id, and a bad messaging.groups.switchSteps", async () => {
    assert.equal(
      await refused(["group", "status", "12ab"]),
      'imctl: group id: got "12ab"; allowed: a decimal group id, e.g. 7301234567890123456',
    );
    const stack = localStack((s) => (s.messaging.groups = { switchSteps: [30, 10, 100] }));
    assert.equal(
      await refused(["group", "status", "7301234567890123456", "--stack", stack]),
      `imctl: ${stack}: messaging.groups.switchSteps: got [30,10,100]; increasing percentages from 1 to 100, ending at 100`,
    );
  });

  it("a bad messaging.groups.autoGrow and autoGrowStepPauseSeconds stop imctl before any target is opened", async () => {
    const on = localStack((s) => (s.messaging.groups = { autoGrow: "on" }));
    assert.equal(
      await refused(["group", "status", "7301234567890123456", "--stack", on]),
      `imctl: ${on}: messaging.groups.autoGrow: got "on"; expected boolean`,
    );
    const pause = localStack((s) => (s.messaging.groups = { autoGrow: true, autoGrowStepPauseSeconds: 7200 }));
    assert.equal(
      await refused(["group", "status", "7301234567890123456", "--stack", pause]),
      `imctl: ${pause}: messaging.groups.autoGrowStepPauseSeconds: got 7200; must be at most 3600`,
    );
  });

  it("group grow, rebalance and rollback: a bad id, a count or a pause out of range, before any target is opened", async () => {
    assert.match(
      await refused(["group", "grow", "7301234567890123456", "--sub-groups", "2000"]),
      /^imctl: --sub-groups: got "2000"; allowed: a whole number from 1 to 1,024; see imctl group grow --help$/,
    );
    assert.match(
      await refused(["group", "rebalance", "7301234567890123456", "--step-pause", "2h"]),
      /^imctl: --step-pause: got "2h"; allowed: 0m to 60m, a number with ms, s, m; see/,
    );
    assert.match(
      await refused(["group", "grow", "7301234567890123456", "--max-latency-p99", "0"]),
      /^imctl: --max-latency-p99: got "0"; allowed: seconds above 0 and at most 3,600; see imctl group grow --help$/,
    );
    assert.match(
      await refused(["group", "rebalance", "7301234567890123456", "--max-notify-errors", "-1"]),
      /^imctl: --max-notify-errors: got "-1"; allowed: a whole number from 0 to 1,000,000,000; see imctl group rebalance --help$/,
    );
    assert.equal(
      await refused(["group", "rollback", "12ab", "--yes"]),
      'imctl: group id: got "12ab"; allowed: a decimal group id, e.g. 7301234567890123456',
    );
  });

  it("bindAddress 127.300.0.1", async () => {
    const stack = localStack((s) => (s.local.bindAddress = "127.300.0.1"));
    assert.match(await refused(["doctor", "--stack", stack]), /local\.bindAddress: got "127\.300\.0\.1"; an address/);
  });

  it("a base port whose derived ports pass 65535", async () => {
    const stack = localStack((s) => {
      s.services.gateway.replicas = 3;
      s.local.ports.gateway = 65534;
    });
    assert.match(
      await refused(["doctor", "--stack", stack]),
      /local\.ports\.gateway: .*derives port 65536 for gateway \(instance 3\), beyond 65535/,
    );
  });
});

describe("bad input: every string flag has a format, checked before anything else", PAR, () => {
  /** A stack that does not exist: a flag refused first is refused as itself, not as the missing stack. */
  const nowhere = "/nonexistent/local.yaml";

  it("drill run --mode, --target, --guard, --load: named with what is allowed, even with --yes", async () => {
    const drill = ["drill", "run", "kafka-broker", "--stack", nowhere, "--yes"];
    assert.equal(
      await refused([...drill, "--mode", "soft"]),
      'imctl: --mode: got "soft"; allowed: hard, graceful; see imctl drill run --help',
    );
    assert.equal(
      await refused([...drill, "--target", "mainframe"]),
      'imctl: --target: got "mainframe"; allowed: local, kubernetes; see imctl drill run --help',
    );
    assert.match(
      await refused([...drill, "--guard", 'sum(rate(x{job="a"}[1m])']),
      /^imctl: --guard: got "sum\(rate\(x\{job=\\"a\\"\}\[1m\]\)"; allowed: a PromQL expression on one line/,
    );
    assert.match(await refused([...drill, "--load", "nosuch"]), /^imctl: --load: got "nosuch"; allowed: smoke, /);
  });

  it("drill run --from, --zone, --instance and drill restore --target", async () => {
    const drill = ["drill", "run", "partition", "--stack", nowhere, "--yes"];
    assert.match(await refused([...drill, "--from", "gw"]), /^imctl: --from: got "gw"; allowed: gateway, message/);
    assert.match(await refused([...drill, "--zone", "-b"]), /^imctl: --zone: got "-b"; allowed: a topology/);
    assert.match(await refused([...drill, "--instance", "Gateway 2"]), /^imctl: --instance: got "Gateway 2"; allowed/);
    assert.match(
      await refused(["drill", "restore", "--target", "cloud", "--stack", nowhere, "--yes"]),
      /^imctl: --target: got "cloud"; allowed: local, kubernetes; see imctl drill restore --help$/,
    );
  });

  it("rollout --prometheus and --edge take http(s) URLs without credentials; --namespace, --version, --env", async () => {
    const start = ["rollout", "start", "gateway", "--version", "2.0.0", "--stack", nowhere];
    const line = await refused([...start, "--prometheus", "http://admin:hunter2@prom:9090"]);
    assert.match(line, /^imctl: --prometheus: got "http:\/\/\*\*\*@prom:9090"; allowed: a Prometheus base URL/);
    assert.ok(!line.includes("hunter2"), line);
    assert.match(
      await refused(["rollout", "status", "gateway", "--stack", nowhere, "--edge", "im.example.com"]),
      /^imctl: --edge: got "im\.example\.com"; allowed: the platform's edge URL/,
    );
    assert.match(await refused([...start, "--namespace", "IM_prod"]), /^imctl: --namespace: got "IM_prod"; allowed/);
    assert.match(await refused([...start, "--image-repo", "Reg/IM"]), /^imctl: --image-repo: got "Reg\/IM"; allowed/);
    assert.match(await refused([...start, "-e", "lower=1"]), /^imctl: --env: got "lower=1"; allowed: NAME=value/);
    assert.match(
      await refused(["rollout", "start", "gateway", "--version", "../2", "--stack", nowhere]),
      /^imctl: --version: got "\.\.\/2"; allowed: an image tag/,
    );
  });

  it("loadtest --target, bandwidth rollback --id, rollout abort --reason", async () => {
    assert.match(
      await refused(["loadtest", "run", "smoke", "--target", "ftp://edge", "--stack", nowhere]),
      /^imctl: --target: got "ftp:\/\/edge"; allowed: "local" or the platform's edge URL/,
    );
    assert.match(
      await refused(["loadtest", "testrun", "smoke", "--target", "http://edge:99999"]),
      /^imctl: --target: got "http:\/\/edge:99999"; allowed: the platform's edge URL/,
    );
    assert.match(
      await refused(["bandwidth", "rollback", "--id", "../../state", "--stack", nowhere, "--yes"]),
      /^imctl: --id: got "\.\.\/\.\.\/state"; allowed: an upgrade id/,
    );
    assert.match(
      await refused(["rollout", "abort", "gateway", "--reason", "a\nb", "--stack", nowhere]),
      /^imctl: --reason: got "a\\nb"; allowed: a reason, 1 to 500 characters on one line/,
    );
  });
});

describe("bad input: the command table", () => {
  it("every flag that takes a value has a range, a format or a closed set (files have their own checks)", () => {
    /** Paths: what they name is checked by the reader (size, kind, schema: infra/lib/input-file.ts). */
    const FILES = new Set(["--stack", "--out", "--plan", "--strategy"]);
    const unchecked: string[] = [];
    const walk = (c: Command, path: string[]): void => {
      for (const sub of c.commands) {
        const p = [...path, sub.name()];
        walk(sub, p);
        for (const o of sub.options as Array<Option & { parseArg?: unknown; argChoices?: unknown }>)
          if ((o.required || o.optional) && o.parseArg === undefined && o.argChoices === undefined)
            if (!FILES.has(o.long ?? "")) unchecked.push(`imctl ${p.join(" ")} ${o.long ?? o.flags}`);
      }
    };
    walk(
      buildProgram(() => undefined),
      [],
    );
    assert.deepEqual(unchecked, []);
  });
});

describe("bad input: IMCTL_STATE_DIR", PAR, () => {
  it("on a regular file", async () => {
    const f = file("not-a-dir", "x");
    assert.match(
      await refused(["local", "status"], { state: f }),
      /^imctl: IMCTL_STATE_DIR: got ".*not-a-dir", which is not a directory/,
    );
  });

  it("on an unrelated empty folder", async () => {
    const d = tempDir("empty");
    assert.match(
      await refused(["local", "status"], { state: d }),
      /^imctl: IMCTL_STATE_DIR: got ".*", which holds no imctl state/,
    );
    assert.match(await refused(["doctor"], { state: d }), /which holds no imctl state/);
  });

  it("local up into a file, or into a folder of someone else's files, starts nothing and writes nothing", async () => {
    const f = file("not-a-dir", "x");
    assert.match(
      await refused(["local", "up"], { state: f }),
      /^imctl: IMCTL_STATE_DIR: got .*, which is not a directory/,
    );
    const d = tempDir("home");
    writeFileSync(join(d, "notes.txt"), "mine");
    assert.match(
      await refused(["local", "up"], { state: d }),
      /^imctl: IMCTL_STATE_DIR: got .*, which holds no imctl state/,
    );
  });
});

describe("bad input: the kubernetes target's flags and stack fields", PAR, () => {
  /** stacks/embedded-cluster.yaml with `edit` applied, its kubeconfig a file that does not exist. */
  function clusterStack(edit: (s: Record<string, any>) => void = () => undefined): string {
    const s = parse(readFileSync(join(REPO_ROOT, "stacks", "embedded-cluster.yaml"), "utf8")) as Record<string, any>;
    s.cluster.kubeconfig = join(tempDir("bad-kube"), "kubeconfig");
    edit(s);
    const f = join(tempDir("bad-stack"), "embedded-cluster.yaml");
    writeFileSync(f, stringify(s));
    return f;
  }

  it("cluster images --tag that is not an image tag", async () => {
    assert.match(
      await refused(["cluster", "images", "--tag", "../x"]),
      /^imctl: --tag: got "\.\.\/x"; allowed: an image tag/,
    );
  });

  it("rollout on a kubernetes stack whose kubeconfig is missing names the kubeconfig", async () => {
    const stack = clusterStack();
    assert.match(
      await refused(["rollout", "start", "gateway", "--version", "2.0.0", "--stack", stack]),
      /^imctl: kubeconfig: cannot load ".*kubeconfig" \(/,
    );
  });

  it("--prometheus that is not an http(s) URL", async () => {
    assert.match(
      await refused([
        "rollout",
        "start",
        "gateway",
        "--version",
        "2.0.0",
        "--stack",
        clusterStack(),
        "--prometheus",
        "ftp://p",
      ]),
      /^imctl: --prometheus: got "ftp:\/\/p"; allowed: a Prometheus base URL/,
    );
  });

  it("kubernetes.prometheus with both a url and a service", async () => {
    const stack = clusterStack((s) => (s.kubernetes.prometheus = { url: "http://p:9090", service: "a/b:1" }));
    assert.match(
      await refused(["bandwidth", "audit", "--stack", stack]),
      /kubernetes\.prometheus: .*exactly one of url or service/,
    );
  });
});
