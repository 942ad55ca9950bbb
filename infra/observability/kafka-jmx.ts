/**
 * The Prometheus JMX exporter configuration of the Kafka brokers, shared by both targets so the alert rules read
 * the same series everywhere: the local target passes it to the agent in each broker's JVM, the kubernetes target
 * hands it to Strimzi (`metricsConfig` of the Kafka resource) through a ConfigMap in the data namespace.
 * The exporter's default naming (`kafka_server_replicamanager_value{name="UnderReplicatedPartitions"}`).
 *
 * Only the MBeans the alert rules, dashboards and `imctl doctor` read, each named exactly: a scrape reads every
 * attribute of every bean it matches, and the wider patterns this list had (all request-time histograms, every
 * topic's meters) made the exporter a fifth of the brokers' Java execution samples at 2,000 msg/s with a 5 s scrape
 * interval (sorting histogram reservoirs for percentiles no rule reads; docs/benchmarks.md, issue 23).
 */
export const KAFKA_JMX_BEANS = [
  "kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions",
  "kafka.server:type=ReplicaManager,name=UnderMinIsrPartitionCount",
  "kafka.server:type=ReplicaManager,name=LeaderCount",
  "kafka.server:type=ReplicaManager,name=PartitionCount",
  "kafka.server:type=KafkaServer,name=BrokerState",
  "kafka.controller:type=KafkaController,name=OfflinePartitionsCount",
  "kafka.controller:type=KafkaController,name=ActiveControllerCount",
] as const;

export const KAFKA_JMX_EXPORTER_CONFIG = `lowercaseOutputName: true
lowercaseOutputLabelNames: true
includeObjectNames:
${KAFKA_JMX_BEANS.map((b) => `  - "${b}"`).join("\n")}
`;

/** The ConfigMap (in the data namespace) and key Strimzi reads the configuration from. */
export const KAFKA_METRICS_CONFIGMAP = "im-kafka-metrics";
export const KAFKA_METRICS_KEY = "metrics-config.yml";
