import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { forAll } from "../test/prng.ts";
import { deriveSecret, MIN_SEED_LENGTH, platformSecretValues, SEED_TOO_SHORT } from "./derived-secrets.ts";
import {
  podSecurityProblems,
  restrictedContainerSecurityContext,
  restrictedPodSecurityContext,
} from "./pod-security.ts";

/** One way to break the restricted level, applied to a passing pod spec; each breaks exactly one rule. */
const BREAKS: Array<[string, (pod: any) => void]> = [
  ["hostNetwork", (p) => (p.hostNetwork = true)],
  ["hostPID", (p) => (p.hostPID = true)],
  ["hostPath volume", (p) => p.volumes.push({ name: "h", hostPath: { path: "/" } })],
  ["pod runAsUser 0", (p) => (p.securityContext.runAsUser = 0)],
  ["pod seccomp Unconfined", (p) => (p.securityContext.seccompProfile = { type: "Unconfined" })],
  ["privileged", (p) => (p.containers[0].securityContext.privileged = true)],
  ["escalation", (p) => (p.containers[0].securityContext.allowPrivilegeEscalation = true)],
  ["container runAsNonRoot false", (p) => (p.containers[0].securityContext.runAsNonRoot = false)],
  ["no drop ALL", (p) => (p.containers[0].securityContext.capabilities = { drop: ["NET_RAW"] })],
  ["add SYS_ADMIN", (p) => (p.containers[0].securityContext.capabilities.add = ["SYS_ADMIN"])],
  ["hostPort", (p) => (p.containers[0].ports = [{ containerPort: 80, hostPort: 80 }])],
];

const passingPod = (uid: number, containers: number) => ({
  securityContext: restrictedPodSecurityContext(uid),
  volumes: [
    { name: "config", configMap: { name: "c" } },
    { name: "tls", secret: { secretName: "s" } },
  ],
  containers: Array.from({ length: containers }, (_, i) => ({
    name: `c${i}`,
    securityContext: restrictedContainerSecurityContext(),
  })),
});

describe("Pod Security restricted level", () => {
  it("passes the components' own contexts for any non-root user and any number of containers", () => {
    forAll(
      (r) => ({ uid: r.int(1, 2 ** 31 - 1), containers: r.int(1, 4) }),
      ({ uid, containers }) => assert.deepEqual(podSecurityProblems(passingPod(uid, containers)), []),
    );
  });

  it("reports exactly one problem for each single rule broken", () => {
    forAll(
      (r) => ({ uid: r.int(1, 65534), which: r.int(0, BREAKS.length - 1) }),
      ({ uid, which }) => {
        const pod: any = passingPod(uid, 1);
        const [what, breakIt] = BREAKS[which] ?? BREAKS[0]!;
        breakIt(pod);
        assert.equal(podSecurityProblems(pod).length, 1, `${what}: ${podSecurityProblems(pod).join("; ")}`);
      },
      { runs: 100 },
    );
  });

  it("refuses to build a root context", () => {
    assert.throws(() => restrictedPodSecurityContext(0), /uid: got 0; expected a non-root user id/);
  });
});

describe("secrets derived from a seed", () => {
  const seed = "s".repeat(MIN_SEED_LENGTH);

  it("gives the same 43-character base64url value for the same seed and name, another for any other", () => {
    forAll(
      (r) => ({ a: `name-${r.u32()}`, b: `name-${r.u32()}`, salt: String(r.u32()) }),
      ({ a, b, salt }) => {
        const s = seed + salt;
        assert.equal(deriveSecret(s, a), deriveSecret(s, a));
        assert.match(deriveSecret(s, a), /^[A-Za-z0-9_-]{43}$/);
        if (a !== b) assert.notEqual(deriveSecret(s, a), deriveSecret(s, b));
        assert.notEqual(deriveSecret(s, a), deriveSecret(`${s}x`, a));
      },
    );
  });

  it("meets the services' token key format and refuses a short seed", () => {
    const v = platformSecretValues(seed);
    assert.match(v.platform.TOKEN_KEYS, /^k1:[A-Za-z0-9_-]{43}$/);
    assert.equal(v.platform.TOKEN_ACTIVE_KID, "k1");
    assert.ok(v.platform.INTERNAL_TOKEN.length >= 16);
    assert.throws(() => deriveSecret("short", "x"), { message: SEED_TOO_SHORT(5) });
  });
});
