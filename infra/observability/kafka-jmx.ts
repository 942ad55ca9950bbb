/**
 * The Prometheus JMX exporter configuration of the Kafka brokers, shared by both targets so the alert rules read
 * the same series everywhere: the local target passes it to the agent in each broker's JVM, the kubernetes target
 * hands it to Strimzi (`metricsConfig` of the Kafka resource) through a ConfigMap in the data namespace.
 * The exporter's default naming (`kafka_server_replicamanager_value{name="UnderReplicatedPartitions"}`), limited
 * to the MBeans the alert rules and dashboards read.
 */
export const KAFKA_JMX_EXPORTER_CONFIG = `lowercaseOutputName: true
lowercaseOutputLabelNames: true
includeObjectNames:
  - "kafka.server:type=ReplicaManager,*"
  - "kafka.server:type=BrokerTopicMetrics,*"
  - "kafka.server:type=KafkaServer,*"
  - "kafka.controller:type=KafkaController,*"
  - "kafka.network:type=RequestMetrics,name=TotalTimeMs,*"
  - "kafka.log:type=LogFlushStats,*"
  - "java.lang:type=Memory"
  - "java.lang:type=GarbageCollector,*"
`;

/** The ConfigMap (in the data namespace) and key Strimzi reads the configuration from. */
export const KAFKA_METRICS_CONFIGMAP = "im-kafka-metrics";
export const KAFKA_METRICS_KEY = "metrics-config.yml";
