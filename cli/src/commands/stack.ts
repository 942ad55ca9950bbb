import { stackFile } from "../lib/paths.ts";

/** `--stack local` names stacks/local.yaml; a value with a slash or a .yaml suffix is a path. */
export function resolveStack(stack: string | undefined): string {
  const s = stack ?? "local";
  return s.includes("/") || /\.ya?ml$/.test(s) ? s : stackFile(s);
}
