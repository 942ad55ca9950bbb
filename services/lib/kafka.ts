import { Producer, ProduceAcks, stringSerializers } from "@platformatic/kafka";

/**
 * The durable-event producer: acks from all in-sync replicas (with min.insync.replicas 2 on the topic) and
 * idempotence, so a retried send is written once and an acknowledged event survives a broker loss.
 */
export function createProducer(clientId: string, brokers: string[]): Producer<string, string, string, string> {
  return new Producer({
    clientId,
    bootstrapBrokers: brokers,
    serializers: stringSerializers,
    acks: ProduceAcks.ALL,
    idempotent: true,
    retries: 20,
    retryDelay: 250,
    timeout: 10_000,
  });
}
