/**
 * The messages of imctl rollout (canary releases), asserted verbatim by tests. MESSAGES also carries the
 * shared ones of errors.ts, so a file of this command needs one import whichever it raises.
 */
import { excerpt } from "../../../../base/excerpt.ts";
import { MESSAGES as SHARED } from "../../errors.ts";

export const MESSAGES = {
  ...SHARED,
  unknownService: (name: string) => `unknown service "${name}": allowed are gateway, message, user-center`,
  rolloutInProgress: (service: string, phase: string, step: string, version: string) =>
    `a rollout of ${service} is already in progress (${phase}, step ${step}, version ${version}): promote, abort ` +
    `or resume it first (imctl rollout status ${service})`,
  rolloutNone: (service: string) =>
    `no rollout of ${service} is in progress: start one with "imctl rollout start ${service} --version <v>"`,
  rolloutVersion: (value: string) =>
    `--version: got ${JSON.stringify(value)}; allowed: an image tag of letters, digits, '.', '_' and '-' (at ` +
    `most 128, starting with a letter or digit)`,
  rolloutSameVersion: (service: string, version: string) =>
    `--version: got ${JSON.stringify(version)}; it is already the stable version of ${service}: allowed: a ` +
    `different version`,
  rolloutEnv: (value: string) => `--env: got ${JSON.stringify(value)}; allowed: NAME=value with an upper-case NAME`,
  rolloutRefused: (action: string, service: string, why: string) =>
    `cannot ${action} the rollout of ${service}: ${why}`,
  rolloutControllerRunning: (service: string, pid: number, since: string) =>
    `the rollout of ${service} is being run by imctl pid ${pid} (since ${since}): use promote, pause or abort ` +
    `from here, or stop that process first`,
  strategyWeight: (source: string, path: string, value: unknown) =>
    `${source}: ${path}.setWeight: got ${excerpt(value)}; allowed: a whole number from 0 to 100`,
  strategyNever100: (source: string, last: number | undefined) =>
    `${source}: steps: the last setWeight is ${last ?? "missing"}; allowed: steps whose last setWeight is 100 (a ` +
    `rollout must reach 100 %)`,
  strategyStep: (source: string, path: string, value: unknown) =>
    `${source}: ${path}: got ${excerpt(value)}; allowed: one of setWeight, pause, analysis`,
} as const;
