/**
 * The one way a command gets a target: `openTarget({ stack, target, kubernetes })`, then the capability of its
 * workflow: rollout(), drill(), health(), bandwidth() or lifecycle(). A capability the target does not offer is a
 * UserError naming what it cannot do, thrown before anything is touched. The local target offers every one; the
 * kubernetes target offers rollout, drill, doctor, bandwidth and group (not `imctl local`).
 *
 * Targets are loaded lazily: opening one reads nothing but the stack's `target` field (and only when --target is
 * not given), so a command's own validation keeps its order.
 */
import { loadSpec, SpecError } from "../../../infra/lib/spec.ts";
import { resolveStack } from "../commands/stack.ts";
import { UserError } from "../errors.ts";
import { TARGET_MESSAGES } from "./messages.ts";

export { TARGET_MESSAGES };
/** The local target's database admin, for a cluster stack whose external data tier is the local target. */
export { localDatabaseAdmin } from "./local/platform.ts";
import type { KubernetesOptions } from "./kubernetes/access.ts";
import type { PlatformLifecycle } from "./lifecycle.ts";
import { LocalTarget, localLifecycle } from "./local/target.ts";
import type { BandwidthTarget, DrillTarget, GroupTarget, HealthTarget, RolloutTarget, TargetKind } from "./target.ts";

export type { KubernetesOptions } from "./kubernetes/access.ts";

export interface OpenTargetOptions {
  /** --stack: a stack name under stacks/ or a stack file. Default "local" ("aws-prod" with --target kubernetes). */
  stack?: string;
  /** --target: "local" or "kubernetes". Default: the stack file's own `target`. */
  target?: string;
  /** How to reach the kubernetes target; only read when the target is kubernetes. */
  kubernetes?: KubernetesOptions;
}

/** One target, opened: each method gives one workflow's view of it, or throws a UserError naming what is missing. */
export interface OpenedTarget {
  readonly kind: TargetKind;
  /** The stack file. */
  readonly stack: string;
  /** `imctl rollout`. Async: the kubernetes track connects its API client first. */
  rollout(): Promise<RolloutTarget>;
  /** `imctl drill`. */
  drill(): Promise<DrillTarget>;
  /** `imctl doctor`. */
  health(): Promise<HealthTarget>;
  /** `imctl bandwidth`. */
  bandwidth(): Promise<BandwidthTarget>;
  /** `imctl group`. */
  groups(): Promise<GroupTarget>;
  /** `imctl local`. */
  lifecycle(): PlatformLifecycle;
}

function stackKind(stackFile: string): string {
  try {
    return loadSpec(stackFile).target;
  } catch (err) {
    if (err instanceof SpecError) throw new UserError(err.message);
    throw err;
  }
}

function kindOf(o: OpenTargetOptions): TargetKind {
  const kind = o.target ?? stackKind(resolveStack(o.stack));
  if (kind !== "local" && kind !== "kubernetes") throw new UserError(TARGET_MESSAGES.badTarget(kind));
  return kind;
}

function openLocal(stack: string): OpenedTarget {
  let target: LocalTarget | undefined;
  // Built on first use: its constructor reads the stack and the local state, and fails on a bad stack file.
  const local = () => (target ??= new LocalTarget(stack));
  return {
    kind: "local",
    stack,
    rollout: async () => local(),
    drill: async () => local(),
    health: async () => local(),
    bandwidth: async () => local(),
    groups: async () => local(),
    lifecycle: () => localLifecycle(stack),
  };
}

function openKubernetes(stack: string | undefined, kubernetes: KubernetesOptions): OpenedTarget {
  const file = resolveStack(stack ?? "aws-prod");
  const access = () => import("./kubernetes/access.ts").then((m) => m.kubernetesAccess(file, kubernetes));
  return {
    kind: "kubernetes",
    stack: file,
    rollout: async () => {
      const { kubernetesRolloutTarget } = await import("./kubernetes/rollout.ts");
      return kubernetesRolloutTarget(await access());
    },
    drill: async () => {
      const { kubernetesDrillTarget } = await import("./kubernetes/drill.ts");
      return kubernetesDrillTarget(await access());
    },
    health: async () => {
      const { kubernetesHealthTarget } = await import("./kubernetes/health.ts");
      return kubernetesHealthTarget(await access());
    },
    bandwidth: async () => {
      const { kubernetesBandwidthTarget } = await import("./kubernetes/bandwidth.ts");
      return kubernetesBandwidthTarget(await access());
    },
    groups: async () => {
      const { kubernetesGroupTarget } = await import("./kubernetes/groups.ts");
      return kubernetesGroupTarget(await access());
    },
    lifecycle: () => {
      throw new UserError(TARGET_MESSAGES.kubernetesLifecycle(file));
    },
  };
}

/** Opens the target a command runs against; validates --target, touches nothing. */
export function openTarget(o: OpenTargetOptions): OpenedTarget {
  return kindOf(o) === "local" ? openLocal(resolveStack(o.stack)) : openKubernetes(o.stack, o.kubernetes ?? {});
}
