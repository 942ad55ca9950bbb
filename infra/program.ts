/**
 * The Pulumi program as a function: what infra/index.ts runs for `pulumi up` with Pulumi.yaml, and what imctl's
 * inline Automation API program runs (cli/src/commands/automation.ts). Both declare `deployPlatform(spec)` and export
 * `platformOutputs` of it, so the two ways of running the program cannot drift apart.
 */
import { findPlaceholders, placeholderMessage } from "./lib/placeholders.ts";
import { SpecError, type KubernetesPlatformSpec } from "./lib/spec.ts";
import { deployPlatform as declarePlatform, type DeployOptions, type PlatformDeployment } from "./platform.ts";

/**
 * The platform for a real engine run: a cloud stack that still holds a placeholder (infra/lib/placeholders.ts) is
 * refused with one line naming the field before anything is declared. `imctl plan` calls infra/platform.ts directly
 * and only lists the placeholders.
 */
export function deployPlatform(spec: KubernetesPlatformSpec, opts: DeployOptions = {}): PlatformDeployment {
  const refused = placeholderMessage(`stacks/${spec.name}.yaml`, findPlaceholders(spec));
  if (refused !== null) throw new SpecError(refused);
  return declarePlatform(spec, opts);
}

/**
 * The stack outputs: the platform's shape and, per cloud, where its network, database and backups are; for an
 * existing cluster, what was deployed into it.
 */
export function platformOutputs(spec: KubernetesPlatformSpec, deployment: PlatformDeployment) {
  return {
    platform: {
      name: spec.name,
      clouds: Object.keys(deployment.clouds),
      services: spec.services,
      redis: spec.data.redis,
      kafka: {
        brokers: spec.data.kafka.brokers,
        replicationFactor: spec.data.kafka.replicationFactor,
        minInsyncReplicas: spec.data.kafka.minInsyncReplicas,
      },
    },
    endpoints: Object.fromEntries(
      Object.entries(deployment.clouds).map(([cloud, d]) => [
        cloud,
        { vpcId: d.network.vpcId, database: d.data.endpoints.databaseHost, backupBucket: d.data.backupBucket },
      ]),
    ),
    vpnTunnels: deployment.vpn?.tunnelAddresses,
    /** An existing-cluster stack: namespace, Deployments, the Gateway's address, the generated Secrets (names only). */
    cluster: deployment.cluster?.outputs,
  };
}
