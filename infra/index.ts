/**
 * The Pulumi program (Pulumi.yaml `main`): the stack's spec in, component resources out.
 * It reads `stacks/<stack>.yaml` through the same schema as imctl, so a bad stack file fails here before any
 * resource is declared. The per-layer components (network, cluster, data, gateway, services, observability)
 * are added under infra/<layer>/ and instantiated below.
 */
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { loadSpec } from "./lib/spec.ts";

const stackName = pulumi.getStack();
const spec = loadSpec(join(import.meta.dirname, "..", "stacks", `${stackName}.yaml`));
if (spec.target !== "kubernetes") {
  throw new Error(`stacks/${stackName}.yaml: target: got ${JSON.stringify(spec.target)}; Pulumi deploys only target "kubernetes" stacks (run the local target with "imctl local up")`);
}

export const platform = {
  name: spec.name,
  services: spec.services,
  redis: spec.data.redis,
  kafka: { brokers: spec.data.kafka.brokers, replicationFactor: spec.data.kafka.replicationFactor, minInsyncReplicas: spec.data.kafka.minInsyncReplicas },
};
