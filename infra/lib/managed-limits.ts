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

/**
 * How the services reach ApsaraMQ for Kafka: its VPC SASL endpoint (9094, SASL_PLAINTEXT), SCRAM-SHA-256. The service
 * has a VPC SSL endpoint too (9095, SASL_SSL, `enable.vpc_sasl_ssl` in the instance's deploy config, with ACLs on),
 * but the program does not switch to it: @pulumi/alicloud 3.108's Instance has no output for that endpoint (its SSL
 * outputs are the Internet one's), and ApsaraMQ's clients trust its certificate from a file downloaded from the
 * console, not a CA the system roots hold, so the services would need it as a Secret before the first `up` (as Tair's
 * CA is), and whether its name matches the endpoint's host is not documented where this could check it.
 */
export const ALIKAFKA_TRANSPORT =
  "ApsaraMQ for Kafka: the services authenticate with SCRAM-SHA-256 on the VPC SASL endpoint (9094, " +
  "SASL_PLAINTEXT): the password never crosses the network but the messages cross the VPC unencrypted; the VPC " +
  "SSL endpoint (9095) is not used (no provider output for it, and its certificate is one to download from the " +
  "console): docs/cloud-stacks.md";
