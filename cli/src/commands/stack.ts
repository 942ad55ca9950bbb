import { loadSpec, requireKubernetes, SpecError, type KubernetesPlatformSpec } from "../../../infra/lib/spec.ts";
import { UserError } from "../errors.ts";
import { stackFile } from "../lib/paths.ts";

/** `--stack local` names stacks/local.yaml; a value with a slash or a .yaml suffix is a path. */
export function resolveStack(stack: string | undefined): string {
  const s = stack ?? "local";
  return s.includes("/") || /\.ya?ml$/.test(s) ? s : stackFile(s);
}

/** A kubernetes stack, validated; a bad one is a UserError naming the field (nothing has been touched yet). */
export function loadKubernetesStack(stack: string | undefined): { file: string; spec: KubernetesPlatformSpec } {
  const file = resolveStack(stack);
  try {
    return { file, spec: requireKubernetes(loadSpec(file), file) };
  } catch (err) {
    if (err instanceof SpecError) throw new UserError(err.message);
    throw err;
  }
}
