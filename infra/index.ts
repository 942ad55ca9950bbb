/**
 * The Pulumi program (Pulumi.yaml `main`): the stack's spec in, component resources out.
 * It reads `stacks/<stack>.yaml` through the same schema as imctl, so a bad stack file fails here before any
 * resource is declared. `deployPlatform` (infra/platform.ts) instantiates the per-layer components under
 * infra/<layer>/; the unit tests and `imctl plan` run the same function under mocks. Every stack reads its
 * secret seed (the data tier's credentials; an existing cluster's generated secrets) from the config secret
 * `secretSeed` (`pulumi config set --secret secretSeed $(openssl rand -hex 32)`).
 */
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { loadSpec, requireKubernetes } from "./lib/spec.ts";
import { deployPlatform, platformOutputs } from "./program.ts";

const stackName = pulumi.getStack();
const file = join(import.meta.dirname, "..", "stacks", `${stackName}.yaml`);
const spec = requireKubernetes(loadSpec(file), `stacks/${stackName}.yaml`);
const outputs = platformOutputs(spec, deployPlatform(spec));

// The same outputs as imctl's inline program (infra/program.ts).
export const platform = outputs.platform;
export const endpoints = outputs.endpoints;
export const vpnTunnels = outputs.vpnTunnels;
/** An existing-cluster stack: namespace, Deployments, the Gateway's address, the generated Secrets (names only). */
export const cluster = outputs.cluster;
