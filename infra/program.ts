/**
 * The Pulumi program as a function: what infra/index.ts runs for `pulumi up` with Pulumi.yaml, and what imctl's
 * inline Automation API program runs (cli/src/commands/automation.ts). Both declare `deployPlatform(spec)` and export
 * `platformOutputs` of it, so the two ways of running the program cannot drift apart.
 */
import type { KubernetesPlatformSpec } from "./lib/spec.ts";
import { deployPlatform, type PlatformDeployment } from "./platform.ts";

export { deployPlatform };

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
