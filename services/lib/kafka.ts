import type { ConnectionOptions } from "node:tls";
import { Producer, ProduceAcks, stringSerializers } from "@platformatic/kafka";

/**
 * The durable-event producer: acks from all in-sync replicas (with min.insync.replicas 2 on the topic) and
 * idempotence, so a retried send is written once and an acknowledged event survives a broker loss.
 */
export function createProducer(clientId: string, brokers: string[], tls?: ConnectionOptions): Producer<string, string, string, string> {
  return keepConnectionErrorsHandled(new Producer({
    ...(tls ? { tls } : {}),
    clientId,
    bootstrapBrokers: brokers,
    serializers: stringSerializers,
    acks: ProduceAcks.ALL,
    idempotent: true,
    retries: 20,
    retryDelay: 250,
    timeout: 10_000,
  }));
}

interface ConnectionEvents {
  on(event: "client:broker:connect" | "client:broker:failed", listener: (payload: { connection?: { on(event: "error", fn: () => void): unknown } }) => void): unknown;
}

/**
 * Gives every broker connection of a client an 'error' listener for its whole life. The library's connection pool
 * listens for a connection's first error only; a connection that errs twice (a broker closing it during a
 * controlled shutdown, then its socket's own error) would otherwise raise an unhandled 'error' event, which ends
 * the process. The requests on it are still failed with the error and retried by the client.
 */
export function keepConnectionErrorsHandled<C extends ConnectionEvents>(client: C): C {
  const keep = (payload: { connection?: { on(event: "error", fn: () => void): unknown } }) => void payload.connection?.on("error", () => undefined);
  client.on("client:broker:connect", keep);
  client.on("client:broker:failed", keep);
  return client;
}

export interface OutgoingEvent {
  topic: string;
  key: string;
  value: string;
}

/**
 * Publishes events with one produce request in flight at a time, coalescing everything that arrives meanwhile
 * into the next request. The idempotent producer's per-partition sequence numbers must reach the broker in
 * order (concurrent requests to one partition are rejected as OUT_OF_ORDER_SEQUENCE_NUMBER), and batching
 * keeps throughput up: under load each request carries many events.
 */
export class EventPublisher {
  private queue: Array<{ ev: OutgoingEvent; resolve: () => void; reject: (e: Error) => void }> = [];
  private inFlight = false;

  constructor(
    private readonly producer: Producer<string, string, string, string>,
    private readonly maxBatch = 500,
  ) {}

  /** Resolves once the event is acknowledged by every in-sync replica. */
  publish(ev: OutgoingEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ev, resolve, reject });
      if (!this.inFlight) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.inFlight = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        await this.producer.send({ messages: batch.map((b) => b.ev) });
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    this.inFlight = false;
  }

  async close(): Promise<void> {
    while (this.inFlight) await new Promise((r) => setTimeout(r, 10));
    await this.producer.close();
  }
}
