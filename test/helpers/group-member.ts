/**
 * A member of a Kafka consumer group, in its own process, for tests that need a group whose rebalance is held up:
 * it joins GROUP on TOPIC with a long session (SESSION_MS) and rebalance timeout, prints "joined" once it is a
 * member, commits nothing and stays until killed. Stopped with SIGSTOP it can neither heartbeat nor rejoin, so the
 * coordinator waits out its session before the next rebalance completes.
 *
 *   BROKERS=127.0.0.1:9092,... GROUP=im-fanout TOPIC=im.message.stored SESSION_MS=45000 node --import tsx test/helpers/group-member.ts
 */
import { Consumer, stringDeserializers } from "@platformatic/kafka";

const env = (k: string): string => {
  const v = process.env[k];
  if (v === undefined || v === "") throw new Error(`group-member: ${k} is not set`);
  return v;
};
const sessionTimeout = Number(env("SESSION_MS"));
const consumer = new Consumer({
  clientId: "test-group-member",
  groupId: env("GROUP"),
  bootstrapBrokers: env("BROKERS").split(","),
  deserializers: stringDeserializers,
  maxWaitTime: 500,
});
const stream = await consumer.consume({
  topics: [env("TOPIC")],
  mode: "committed",
  fallbackMode: "earliest",
  autocommit: false,
  sessionTimeout,
  rebalanceTimeout: sessionTimeout + 15_000,
  heartbeatInterval: 1000,
});
stream.on("data", () => undefined);
stream.on("error", () => undefined);
process.stdout.write("joined\n");
// Bounded: a member left behind by a test that died leaves by itself.
setTimeout(() => process.exit(0), 10 * 60_000);
