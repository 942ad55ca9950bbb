/**
 * The Pulumi program (Pulumi.yaml `main`): the stack's spec in, component resources out.
 * It reads `stacks/<stack>.yaml` through the same schema as imctl, so a bad stack file fails here before any
 * resource is declared. `deployPlatform` (infra/platform.ts) instantiates the per-layer components under
 * infra/<layer>/; the unit tests and `imctl plan` run the same function under mocks. An existing-cluster stack reads
 * its secret seed from the config secret `secretSeed` (`pulumi config set --secret secretSeed $(openssl rand -hex 32)`).
 */
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { loadSpec, requireKubernetes } from "./lib/spec.ts";
import { deployPlatform } from "./platform.ts";

const stackName = pulumi.getStack();
const file = join(import.meta.dirname, "..", "stacks", `${stackName}.yaml`);
const spec = requireKubernetes(loadSpec(file), `stacks/${stackName}.yaml`);
const deployment = deployPlatform(spec);

export const platform = {
  name: spec.name,
  clouds: Object.keys(deployment.clouds),
  services: spec.services,
  redis: spec.data.redis,
  kafka: {
    brokers: spec.data.kafka.brokers,
    replicationFactor: spec.data.kafka.replicationFactor,
    minInsyncReplicas: spec.data.kafka.minInsyncReplicas,
  },
};
export const endpoints = Object.fromEntries(
  Object.entries(deployment.clouds).map(([cloud, d]) => [
    cloud,
    { vpcId: d.network.vpcId, database: d.data.endpoints.databaseHost, backupBucket: d.data.backupBucket },
  ]),
);
export const vpnTunnels = deployment.vpn?.tunnelAddresses;
/** An existing-cluster stack: namespace, Deployments, the Gateway's address, the generated Secrets (names only). */
export const cluster = deployment.cluster?.outputs;
