/**
 * What a target cannot do, as the factory (open.ts) says it: one line naming the field, the value and what is
 * allowed. Asserted verbatim by tests; the drill's and doctor's MESSAGES carry their own entries from here.
 */
export const TARGET_MESSAGES = {
  badTarget: (got: string) => `--target: got ${JSON.stringify(got)}; allowed: local, kubernetes`,
  kubernetesBandwidth: (stack: string) =>
    `--stack: got ${JSON.stringify(stack)}, a kubernetes stack; the kubernetes target offers rollout only for now, ` +
    "not the bandwidth audit, plan, upgrade or rollback (allowed: a local stack)",
  kubernetesLifecycle: (stack: string) =>
    `--stack: got ${JSON.stringify(stack)}, a kubernetes stack; imctl local runs the local target only ` +
    "(a kubernetes platform is brought up with imctl up)",
  drillKubernetes: '--target: got "kubernetes"; drills run on the local target only for now (allowed: local)',
  doctorKubernetes: (stack: string) =>
    `--stack: got ${JSON.stringify(stack)}, a kubernetes stack; imctl doctor checks the local target only for ` +
    `now (on kubernetes, run the checks of runbooks/README.md with kubectl and Grafana)`,
} as const;
