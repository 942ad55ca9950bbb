/**
 * What a managed data service does not let the program enforce, said once for the program, the plan and the docs.
 * Pure: no Pulumi import (imctl plan loads it without the providers).
 */

/**
 * ApsaraMQ for Kafka's Topic resource (@pulumi/alicloud 3.108, alikafka.Topic) has `localTopic`, `partitionNum`,
 * `compactTopic` and a free-form JSON `configs`: no typed replication factor or min.insync.replicas. The program writes
 * both into `configs` on local-storage topics, as the provider's own example does; whether the service applies them
 * cannot be checked offline. Cloud-storage topics would ignore them altogether (the disks replicate instead).
 */
export const ALIKAFKA_TOPIC_GUARANTEES =
  "ApsaraMQ for Kafka: its Topic resource has no typed replication-factor or min.insync.replicas field; the program " +
  "requests the spec's values in the topics' free-form configs on local-storage topics, which the plan cannot " +
  "verify: after up, check each topic with kafka-topics.sh --describe (ReplicationFactor, min.insync.replicas)";
