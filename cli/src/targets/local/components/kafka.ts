import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Admin } from "@platformatic/kafka";
import { execa } from "execa";
import { KAFKA_JMX_EXPORTER_CONFIG } from "../../../../../infra/observability/kafka-jmx.ts";
import { waitFor } from "../../../lib/wait.ts";
import { logFile, type LocalComponent, type LocalContext } from "../context.ts";

/**
 * KRaft cluster ids are 16 random bytes in URL-safe base64 without padding (22 characters). One in 64 starts with
 * "-", which the storage tool's argument parser takes for an option: draw again, as Kafka's own Uuid does.
 */
export function newKafkaClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString("base64url");
    if (!id.startsWith("-")) return id;
  }
}

export function kafkaBootstrap(ctx: Pick<LocalContext, "spec" | "host">): string[] {
  return Array.from({ length: ctx.spec.data.kafka.brokers }, (_, i) => `${ctx.host}:${ctx.spec.local.ports.kafka + i}`);
}

const LOG4J2 = `status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
`;

// The JMX exporter's configuration is shared with the kubernetes target: the alert rules read the same series on both.
const JMX_EXPORTER = KAFKA_JMX_EXPORTER_CONFIG;

function brokerProperties(ctx: LocalContext, i: number, dataDir: string): string {
  const p = ctx.spec.local.ports;
  const k = ctx.spec.data.kafka;
  const voters = Array.from({ length: k.brokers }, (_, j) => `${j + 1}@${ctx.host}:${p.kafkaController + j}`).join(",");
  return [
    // Combined mode: every node is broker and controller, so three JVMs form both the quorum and the cluster.
    "process.roles=broker,controller",
    `node.id=${i + 1}`,
    `controller.quorum.voters=${voters}`,
    `listeners=PLAINTEXT://${ctx.host}:${p.kafka + i},CONTROLLER://${ctx.host}:${p.kafkaController + i}`,
    `advertised.listeners=PLAINTEXT://${ctx.host}:${p.kafka + i}`,
    "controller.listener.names=CONTROLLER",
    "inter.broker.listener.name=PLAINTEXT",
    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    `log.dirs=${dataDir}`,
    `num.partitions=${k.topics[0]?.partitions ?? 6}`,
    `default.replication.factor=${k.replicationFactor}`,
    `min.insync.replicas=${k.minInsyncReplicas}`,
    `offsets.topic.replication.factor=${k.replicationFactor}`,
    // One consumer group (the fan-out) on one machine: 3 partitions, not 50 (every partition is in each follower's
    // fetch session and is looked at on every fetch). The group's coordinator then often sits on a broker the drills
    // stop; the fan-out replaces its consumer when the coordinator goes (services/message/src/fanout.ts).
    "offsets.topic.num.partitions=3",
    `transaction.state.log.replication.factor=${k.replicationFactor}`,
    `transaction.state.log.min.isr=${k.minInsyncReplicas}`,
    // Topics are created by imctl with explicit settings; a typo in a client must not create one.
    "auto.create.topics.enable=false",
    "unclean.leader.election.enable=false",
    // A hard-killed broker is fenced (and dropped from every ISR) after this, instead of the default 9 s.
    "broker.heartbeat.interval.ms=1000",
    "broker.session.timeout.ms=6000",
    "group.initial.rebalance.delay.ms=0",
    // A broker that comes back takes its preferred leaderships back at the next check (the consumers then meet
    // NOT_LEADER_OR_FOLLOWER and a moved group coordinator: services/lib/kafka.ts, followLeaderMoves).
    `leader.imbalance.check.interval.seconds=${ctx.spec.local.kafka.leaderRebalanceCheckSeconds ?? 300}`,
    // Few threads: each request is handed from a network thread to an I/O thread and back, and on these small
    // virtual machines waking a thread on the other CPU costs more than the request's own work (a loopback
    // ping-pong between two threads: 45 us of CPU per round trip across CPUs, 12 us on one).
    "num.network.threads=1",
    "num.io.threads=2",
    // The active controller writes a no-op record to the metadata log every 500 ms by default (KIP-835), which
    // each voter replicates and every broker's metadata loader applies: the KRaft I/O thread was a tenth of the
    // brokers' Java samples at 2,000 msg/s (issue 23; with the JMX trim, an idle platform's brokers went from 0.19-0.21
    // to 0.16-0.17 of a core). Brokers' liveness is their own heartbeat (every second, fenced after 6 s); 5 s keeps
    // the quorum's "time since the last applied record" meaningful.
    "metadata.max.idle.interval.ms=5000",
    "log.retention.hours=72",
    "",
  ].join("\n");
}

/** The collector's flags; IMCTL_KAFKA_GC_ARGS replaces them, to compare collectors (docs/development.md). */
const gcArgs = (): string[] =>
  process.env.IMCTL_KAFKA_GC_ARGS?.split(" ").filter(Boolean) ?? ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"];

export function kafkaComponents(ctx: LocalContext): LocalComponent[] {
  const k = ctx.spec.data.kafka;
  const p = ctx.spec.local.ports;
  return Array.from({ length: k.brokers }, (_, i) => ({
    id: `kafka-${i + 1}`,
    group: "kafka" as const,
    tools: ["java", "kafka"],
    ports: [
      { port: p.kafka + i, field: "local.ports.kafka" },
      { port: p.kafkaController + i, field: "local.ports.kafkaController" },
      { port: p.kafkaJmx + i, field: "local.ports.kafkaJmx" },
    ],
    endpoint: `${ctx.host}:${p.kafka + i}`,
    startTimeoutMs: 90_000,
    // Controlled shutdown moves leadership away first; give it time before SIGKILL. The brokers are also the KRaft
    // quorum: stopped together, two finish in about 3 s and the last waits for a controller that is gone (Kafka's own
    // deadline is 5 minutes), so `down` stops them in turn and the last one, leader of everything and alone, is
    // given 3 s: what it would have done in the 30 s was wait, and it was killed at the end of them anyway. Its logs
    // are then recovered at the next start, as after any crash (its replicas were in sync on the others).
    stop: { signal: "SIGTERM" as const, graceMs: 30_000, inTurn: { lastGraceMs: 3_000 } },
    async prepare(c) {
      const root = join(c.dir, "kafka");
      const dir = join(root, String(i + 1));
      const dataDir = join(dir, "data");
      mkdirSync(dataDir, { recursive: true });
      writeFileSync(join(root, "log4j2.properties"), LOG4J2);
      writeFileSync(join(root, "jmx-exporter.yml"), JMX_EXPORTER);
      const props = join(dir, "server.properties");
      writeFileSync(props, brokerProperties(c, i, dataDir));
      const libs = c.tool("kafka");
      const classpath = `${libs}/*`;
      c.state.kafkaClusterId ??= newKafkaClusterId();
      if (!existsSync(join(dataDir, "meta.properties"))) {
        await execa(c.tool("java"), [
          "-Xmx128m",
          "-cp",
          classpath,
          `-Dlog4j2.configurationFile=${join(root, "log4j2.properties")}`,
          "kafka.tools.StorageTool",
          "format",
          `--cluster-id=${c.state.kafkaClusterId}`,
          "-c",
          props,
          "--ignore-formatted",
        ]);
      }
      const heap = `${c.spec.local.kafka.heapMb}m`;
      return {
        bin: c.tool("java"),
        args: [
          `-Xms${heap}`,
          `-Xmx${heap}`,
          ...gcArgs(),
          "-XX:+ExitOnOutOfMemoryError",
          // Full tiered JIT (C2), not C1 only: C1 starts faster, but in the latency benchmark (2,000 msg/s) warm
          // brokers on C2 used about 0.55 of a core where C1 used 0.7.
          "-Djava.awt.headless=true",
          `-Dlog4j2.configurationFile=${join(root, "log4j2.properties")}`,
          `-javaagent:${jmxAgentJar(libs)}=${c.host}:${p.kafkaJmx + i}:${join(root, "jmx-exporter.yml")}`,
          "-cp",
          classpath,
          "kafka.Kafka",
          props,
        ],
        cwd: dir,
        logFile: logFile(c, `kafka-${i + 1}`),
      };
    },
    async probe(c) {
      const admin = new Admin({
        clientId: "imctl-probe",
        bootstrapBrokers: [`${c.host}:${p.kafka + i}`],
        timeout: 2000,
        retries: 0,
      });
      try {
        const md = await admin.metadata({ topics: [] });
        if (!md.brokers.has(i + 1)) throw new Error(`broker ${i + 1} is not registered (fenced or starting)`);
        return `broker ${i + 1} registered, ${md.brokers.size} in the cluster`;
      } finally {
        await admin.close().catch(() => undefined);
      }
    },
  }));
}

function jmxAgentJar(libs: string): string {
  // The version lives in tools/kafka/pom.xml; find whichever one bootstrap resolved.
  const jar = readdirSync(libs).find((f) => f.startsWith("jmx_prometheus_javaagent-") && f.endsWith(".jar"));
  if (jar === undefined) throw new Error(`no jmx_prometheus_javaagent jar in ${libs}: run "npx imctl tools install"`);
  return join(libs, jar);
}

export interface KafkaHealth {
  ok: boolean;
  brokers: number;
  topics: Array<{
    name: string;
    partitions: number;
    replicationFactor: number;
    minIsr: number;
    underReplicated: number;
  }>;
  detail: string;
}

async function withAdmin<T>(ctx: Pick<LocalContext, "spec" | "host">, fn: (a: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ clientId: "imctl", bootstrapBrokers: kafkaBootstrap(ctx), timeout: 5000, retries: 2 });
  try {
    return await fn(admin);
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** Brokers registered and every platform topic present with full ISR. */
export async function kafkaHealth(ctx: Pick<LocalContext, "spec" | "host">): Promise<KafkaHealth> {
  return withAdmin(ctx, async (admin) => {
    const k = ctx.spec.data.kafka;
    const names = k.topics.map((t) => t.name);
    const existing = new Set(await admin.listTopics());
    const present = names.filter((n) => existing.has(n));
    const md = await admin.metadata({ topics: present, forceUpdate: true });
    const topics = present.map((name) => {
      const t = md.topics.get(name);
      const parts = t?.partitions ?? [];
      return {
        name,
        partitions: parts.length,
        replicationFactor: Math.min(...parts.map((x) => x.replicas.length)),
        minIsr: Math.min(...parts.map((x) => x.isr.length)),
        underReplicated: parts.filter((x) => x.isr.length < x.replicas.length).length,
      };
    });
    const missing = names.filter((n) => !existing.has(n));
    const ok =
      md.brokers.size === k.brokers &&
      missing.length === 0 &&
      topics.every((t) => t.underReplicated === 0 && t.replicationFactor === k.replicationFactor);
    const detail =
      `${md.brokers.size}/${k.brokers} brokers, ${topics.length}/${names.length} topics` +
      (missing.length ? ` (missing ${missing.join(", ")})` : "") +
      (topics.some((t) => t.underReplicated > 0)
        ? `, under-replicated partitions: ${topics.reduce((s, t) => s + t.underReplicated, 0)}`
        : "");
    return { ok, brokers: md.brokers.size, topics, detail };
  });
}

/** Waits for every broker to register, then creates the platform's topics (replication and min ISR from the spec). */
export async function ensureKafkaTopics(ctx: LocalContext, note: (msg: string) => void): Promise<KafkaHealth> {
  const k = ctx.spec.data.kafka;
  await waitFor(
    `${k.brokers} Kafka brokers to register`,
    () =>
      withAdmin(ctx, async (a) =>
        (await a.metadata({ topics: [], forceUpdate: true })).brokers.size === k.brokers ? true : undefined,
      ),
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  await withAdmin(ctx, async (admin) => {
    const existing = new Set(await admin.listTopics());
    for (const t of k.topics.filter((x) => !existing.has(x.name))) {
      note(
        `creating topic ${t.name} (${t.partitions} partitions, replication ${k.replicationFactor}, min.insync.replicas ${k.minInsyncReplicas})`,
      );
      await admin.createTopics({
        topics: [t.name],
        partitions: t.partitions,
        replicas: k.replicationFactor,
        configs: [{ name: "min.insync.replicas", value: String(k.minInsyncReplicas) }],
      });
    }
  });
  let last: KafkaHealth | undefined;
  return waitFor(
    "Kafka topics with a full in-sync replica set",
    async () => {
      last = await kafkaHealth(ctx);
      return last.ok ? last : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500, lastError: () => last?.detail },
  );
}
