/**
 * The fan-out's Kafka consumer, kept in its group for as long as the fan-out runs.
 *
 * The consumer is replaced by a fresh one when it can no longer take part in its group: its coordinator broker left
 * the metadata, the coordinator refused a group request as no longer coordinating, heartbeats or offset commits
 * failed after the client's retries, or its stream failed or ended. @platformatic/kafka 1.35 never looks a group
 * coordinator up again once found, so a consumer whose coordinator moved (the broker stopped, or came back and took
 * its leaderships back) would otherwise stay out of its group for good: a fresh consumer finds the current
 * coordinator and rejoins. A fetched partition whose leader moved needs no replacement (followLeaderMoves). A stream
 * that stops delivering a partition's waiting events without any error is replaced too (stall-watch.ts).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ConnectionOptions } from "node:tls";
import type { KafkaSasl } from "../../lib/data-auth.ts";
import { Admin, Base, Consumer, type MessagesStream, stringDeserializers, type Message } from "@platformatic/kafka";
import {
  followLeaderMoves,
  guardMissingBroker,
  kafkaErrorCodes,
  keepConnectionErrorsHandled,
  retryDelayFollowingMoves,
} from "../../lib/kafka.ts";
import type { Logger } from "../../lib/log.ts";
import type { MessageMetrics } from "./metrics.ts";
import { partitionKey } from "./offsets.ts";
import { StallWatch } from "./stall-watch.ts";

export type FanoutMessage = Message<string, string, string, string>;

/** Why a fan-out consumer is replaced (the label of im_message_fanout_consumer_restarts_total). */
export type ReplaceReason =
  | "coordinator-left"
  | "coordinator-moved"
  | "heartbeat-failed"
  | "rejoin-failed"
  | "commit-failed"
  | "stream-failed"
  | "stream-stalled"
  | "stream-closed";

/** The fan-out's consumer group. */
const GROUP_ID = "im-fanout";

/**
 * How long start-up waits for the fan-out's consumer to join its group before the instance serves without it (the
 * join goes on in the background). A group can take longer to form than any fixed start-up budget: a member that
 * died is only dropped after its session timeout, and a rebalance waits for every live member to rejoin. Sends and
 * pulls do not need the consumer, so a slow join never fails the start: a process that exited for it would be
 * restarted into the same rebalance, each attempt adding a member the group must wait out.
 */
const START_WAIT_MS = 15_000;
/**
 * How long the coordinator waits for members to rejoin in a rebalance. @platformatic/kafka gives every request 30 s
 * (its connection's fixed request timeout), JoinGroup too: a join that waited longer would be abandoned by the
 * client while the coordinator still counts the member in, and the next rebalance would wait out that member's
 * session as well. Kept under it, the coordinator answers first. Members rejoin on their next heartbeat (1 s).
 */
const REBALANCE_TIMEOUT_MS = 20_000;
/**
 * How long a replaced consumer's stream and group membership may each take to close before its connections are
 * closed under it.
 */
const RETIRE_TIMEOUT_MS = 2000;

/** How often the consumer's lag is read: the lag gauge, and the stall watch's readings. */
const LAG_INTERVAL_MS = 2000;
/**
 * How long a partition's events may wait at every lag reading, with none delivered by the stream, before the consumer
 * is taken for stalled and replaced (stall-watch.ts). A healthy stream fetches at least every FETCH_MAX_WAIT_MS.
 */
const STALL_MS = 6000;
/** A consumer whose last heartbeat succeeded this recently is settled in its group (heartbeats go every second). */
const SETTLED_BEAT_MS = 2500;

/** One consumer of the fan-out's life: a replacement is the next generation. */
export interface Generation {
  n: number;
  consumer: Consumer<string, string, string, string>;
  stream: MessagesStream<string, string, string, string>;
}

export interface SupervisorDeps {
  log: Logger;
  metrics: MessageMetrics;
  brokers: string[];
  /** TLS to the brokers, when on. */
  tls?: ConnectionOptions | undefined;
  /** SASL credentials for the brokers, when they require them. */
  sasl?: KafkaSasl | undefined;
  topic: string;
  clientId: string;
  /** Longest a fetch waits at a broker for new events (FANOUT_FETCH_MAX_WAIT_MS); unset: FETCH_MAX_WAIT_MS. */
  fetchMaxWaitMs?: number;
}

/**
 * The default longest wait of one fetch at a broker, ms. A fetch returns as soon as one event is there (minBytes 1),
 * so this costs no latency: it only sets how often an idle consumer asks again. At 100 ms the two instances' fetches
 * to three brokers were 60 requests a second of nothing, a sizeable part of what the idle brokers burn.
 */
export const FETCH_MAX_WAIT_MS = 500;

/** What the supervisor tells the fan-out it feeds. */
export interface SupervisorEvents {
  /** A message of consumer generation `gen`; returns true when the fan-out's buffer is full (the stream pauses). */
  message(m: FanoutMessage, gen: number): boolean;
  /** The current consumer is being replaced: what it processed and did not commit is replayed by the next one. */
  replacing(): void;
  /** The events not fanned out yet, given the consumer's lag per topic and partition and its committed offsets. */
  pendingLag(lag: Map<string, bigint[]>, committed: Map<string, bigint>, held: ReadonlySet<string>): bigint;
}

/** Settles like `p`, or rejects once `ms` have passed. */
function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** Owns the fan-out consumer's lifecycle: join, replace when lost (the old one leaving first), leave on close. */
export class ConsumerSupervisor {
  private closing = false;
  private generations = 0;
  private current: Generation | undefined;
  private replacing = false;
  private replacement: Promise<void> = Promise.resolve();
  /** The consumer whose join is under way: closing the fan-out closes it instead of waiting for the group. */
  private joining: Generation["consumer"] | undefined;

  constructor(
    private readonly d: SupervisorDeps,
    private readonly events: SupervisorEvents,
  ) {}

  /** The generation of the current consumer, if one has joined. */
  get generation(): number | undefined {
    return this.current?.n;
  }

  /**
   * Joins the group, waiting up to START_WAIT_MS; past that the join goes on in the background. A broker restarting
   * as this instance starts (a drill's restore, a rolling restart) is waited out, for a while.
   */
  async start(): Promise<void> {
    const { d } = this;
    d.metrics.consumerJoined.set(0);
    const started = Date.now();
    this.replacement = this.openRetrying().then((g) => {
      if (g && Date.now() - started > START_WAIT_MS)
        d.log.info({ generation: g.n, waitedMs: Date.now() - started }, "fan-out Kafka consumer joined its group");
    });
    // openRetrying never rejects: only the wait can.
    const joinedInTime = await bounded(this.replacement, START_WAIT_MS).then(
      () => true,
      () => false,
    );
    if (!joinedInTime)
      d.log.warn(
        { waitedMs: START_WAIT_MS },
        "fan-out Kafka consumer has not joined its group yet; " +
          "serving sends and pulls meanwhile, joining in the background",
      );
  }

  /** Resumes the current consumer's stream if the fan-out paused it. */
  resume(): void {
    if (this.current?.stream.isPaused()) this.current.stream.resume();
  }

  /** Replaces the consumer of generation `n` unless it was already replaced (or the fan-out is closing). */
  replace(n: number, reason: ReplaceReason, detail: string): void {
    const { d } = this;
    if (this.closing || this.replacing || this.current === undefined || n !== this.current.n) return;
    this.replacing = true;
    d.log.warn({ reason, detail, generation: n }, "fan-out Kafka consumer lost its group; replacing it");
    d.metrics.consumerRestarts.inc({ reason });
    d.metrics.consumerJoined.set(0);
    const old = this.current;
    this.events.replacing();
    // The old consumer leaves first, so the group rebalances at once instead of waiting a session timeout for a
    // member that will never heartbeat again: through its own coordinator when that still answers, else through
    // the current one (a moved coordinator holds the member too, and would refuse its own leave request).
    this.replacement = this.retire(old, reason !== "coordinator-moved")
      .catch((err: unknown) => d.log.debug({ err: String(err) }, "retiring the fan-out consumer failed"))
      .then(() => this.openRetrying())
      .then((g) => {
        if (g) d.log.info({ generation: g.n }, "fan-out Kafka consumer replaced");
      })
      .finally(() => (this.replacing = false));
  }

  /** Stops joining and replacing; a join still waiting for its group is given up (its connections close under it). */
  async stop(): Promise<void> {
    this.closing = true;
    if (this.joining !== undefined) await Base.prototype.close.call(this.joining).catch(() => undefined);
  }

  /** After stop(): waits for a replacement under way, then the current consumer leaves its group. */
  async close(): Promise<void> {
    await this.replacement;
    if (this.current) await this.retire(this.current);
  }

  /** Opens the next consumer, retrying while Kafka settles, for as long as it takes; undefined once closing. */
  private async openRetrying(): Promise<Generation | undefined> {
    for (let attempt = 1; !this.closing; attempt++) {
      try {
        this.current = await this.open();
        return this.current;
      } catch (err) {
        if (this.closing) break;
        this.d.log.warn(
          { err: (err as Error).message, attempt },
          "fan-out consumer could not join its group yet; retrying",
        );
        await sleep(Math.min(500 * attempt, 5000));
      }
    }
    return undefined;
  }

  private async open(): Promise<Generation> {
    const { d } = this;
    const n = ++this.generations;
    const lost = (reason: ReplaceReason, detail: string): void => this.replace(n, reason, detail);
    const consumer = followLeaderMoves(
      guardMissingBroker(
        keepConnectionErrorsHandled(
          new Consumer({
            ...(d.tls ? { tls: d.tls } : {}),
            ...(d.sasl ? { sasl: d.sasl } : {}),
            clientId: d.clientId,
            groupId: GROUP_ID,
            bootstrapBrokers: d.brokers,
            deserializers: stringDeserializers,
            maxWaitTime: d.fetchMaxWaitMs ?? FETCH_MAX_WAIT_MS,
            minBytes: 1,
            retries: 20,
            retryDelay: retryDelayFollowingMoves(500, (op) =>
              lost("coordinator-moved", `its group coordinator refused ${op}: the group is coordinated elsewhere now`),
            ),
          }),
        ),
        () => lost("coordinator-left", "a broker it needs (its group coordinator) left the cluster metadata"),
      ),
      () => d.log.info({ generation: n }, "a fetched partition's leader moved; fetching from the new leader"),
    );
    // A rebalance's rejoin that failed (its JoinGroup outlasted the client's request timeout, for one) is emitted as
    // the consumer's 'error' event: unheard, it would end the process; heard, the consumer is replaced.
    consumer.on("error", (err: Error) => lost("rejoin-failed", err.message));
    const stream = await this.join(n, consumer);
    d.metrics.consumerJoined.set(1);
    this.watch({ n, consumer, stream }, lost);
    return { n, consumer, stream };
  }

  /** Joins the group: the consumer's stream, once its group has formed. */
  private async join(n: number, consumer: Generation["consumer"]): Promise<Generation["stream"]> {
    try {
      this.joining = consumer;
      return await consumer.consume({
        topics: [this.d.topic],
        mode: "committed",
        fallbackMode: "earliest",
        autocommit: false,
        sessionTimeout: 10_000,
        rebalanceTimeout: REBALANCE_TIMEOUT_MS,
        heartbeatInterval: 1000,
      });
    } catch (err) {
      await this.retire({ n, consumer, stream: null });
      throw err;
    } finally {
      this.joining = undefined;
    }
  }

  /** Hears a joined consumer: its lag, its messages, its group's rebalances, and every sign that it lost its group. */
  private watch({ n, consumer, stream }: Generation, lost: (reason: ReplaceReason, detail: string) => void): void {
    const { d } = this;
    // A fetch waits at most fetchMaxWaitMs at an idle broker: silence is judged past two of those and a second.
    const silentMs = Math.max(STALL_MS, 2 * (d.fetchMaxWaitMs ?? FETCH_MAX_WAIT_MS) + 1000);
    const stall = new StallWatch(STALL_MS, silentMs);
    /** When the group last began a rebalance this consumer has not rejoined from (0: none). */
    let rebalancing = 0;
    stream.on("fetch", () => stall.fetchAnswered(Date.now()));
    // A member settled in its group heartbeats every second. While it joins (a rebalance, a coordinator that moved)
    // it does not, and its stream may wait behind the join's requests: no stall is judged then.
    let lastBeat = 0;
    consumer.on("consumer:heartbeat:end", () => (lastBeat = Date.now()));
    consumer.on("consumer:group:rebalance", () => {
      rebalancing ||= Date.now();
      stall.reset(Date.now());
    });
    consumer.on("consumer:group:join", (p: { generationId?: number; assignments?: unknown }) => {
      rebalancing = 0;
      stall.reset(Date.now());
      d.log.info(
        { generation: n, groupGeneration: p.generationId, assignments: describeAssignments(p.assignments) },
        "fan-out Kafka consumer (re)joined its group",
      );
    });
    consumer.on("consumer:lag", (lag) => {
      // Only the partitions held now: after a rebalance the library still reports the ones given away.
      const held = new Set(
        (consumer.assignments ?? []).flatMap((a) => a.partitions.map((i) => partitionKey(a.topic, i))),
      );
      d.metrics.consumerLag.set(Number(this.events.pendingLag(lag, stream.offsetsCommitted, held)));
      const now = Date.now();
      // A paused stream (the fan-out's buffers are full) or a group between assignments is not expected to deliver;
      // a rebalance that never ends for this consumer is judged like any other wait once it outlasts its timeout.
      const inRebalance = rebalancing > 0 && now - rebalancing < REBALANCE_TIMEOUT_MS + STALL_MS;
      const settled = now - lastBeat < SETTLED_BEAT_MS;
      if (inRebalance || !settled || stream.isPaused()) return stall.reset(now);
      const assigned = describeAssignments(consumer.assignments);
      const silence = stall.silence(now, assigned !== "none");
      if (silence !== undefined)
        return lost("stream-stalled", `no fetch answered for ${(silence / 1000).toFixed(1)} s (assigned ${assigned})`);
      const stalled = stall.reading(lag, stream.offsetsCommitted, now, held);
      if (stalled.length > 0)
        lost(
          "stream-stalled",
          `partition(s) ${stalled.join(", ")} had events waiting for ${STALL_MS / 1000} s and none was delivered ` +
            `(assigned ${assigned})`,
        );
    });
    consumer.startLagMonitoring({ topics: [d.topic] }, LAG_INTERVAL_MS);
    consumer.on("consumer:heartbeat:error", (p) =>
      lost("heartbeat-failed", (p as { error?: Error }).error?.message ?? "heartbeat failed"),
    );
    stream.on("data", (m: FanoutMessage) => {
      stall.delivered(m.topic, m.partition, m.offset);
      if (this.events.message(m, n)) stream.pause();
    });
    stream.on("error", (err: Error) => {
      const codes = kafkaErrorCodes(err);
      lost("stream-failed", codes.length > 0 ? `${err.message} (${codes.join(", ")})` : err.message);
    });
    stream.on("close", () => lost("stream-closed", "its message stream ended"));
  }

  /**
   * Stops a consumer: leaves its group through its own coordinator when it can (and `leave` allows), else closes
   * its connections under it and takes its member out of the group through the group's current coordinator.
   */
  private async retire(
    g: { n: number; consumer: Generation["consumer"]; stream: Generation["stream"] | null },
    leave = true,
  ): Promise<void> {
    g.consumer.stopLagMonitoring();
    const memberId = g.consumer.memberId;
    try {
      if (g.stream) await bounded(Promise.resolve(g.stream.close()), RETIRE_TIMEOUT_MS);
      if (!leave) throw new Error("its group coordinator moved");
      await bounded(Promise.resolve(g.consumer.close(true)), RETIRE_TIMEOUT_MS);
    } catch (err) {
      this.d.log.debug(
        { generation: g.n, err: (err as Error).message },
        "fan-out consumer did not leave its group; closing its connections",
      );
      await Base.prototype.close.call(g.consumer).catch(() => undefined);
      if (memberId) await this.removeMember(memberId, g.n);
    }
  }

  /**
   * Takes a member out of the fan-out's group through the coordinator an admin client looks up afresh, so the
   * group rebalances now rather than after the member's session timeout. Best effort: on failure the group drops the
   * member when its session expires.
   */
  private async removeMember(memberId: string, n: number): Promise<void> {
    const { d } = this;
    const admin = guardMissingBroker(
      keepConnectionErrorsHandled(
        new Admin({
          ...(d.tls ? { tls: d.tls } : {}),
          ...(d.sasl ? { sasl: d.sasl } : {}),
          clientId: `${d.clientId}-retire`,
          bootstrapBrokers: d.brokers,
          timeout: RETIRE_TIMEOUT_MS,
          retries: 2,
          retryDelay: 250,
        }),
      ),
    );
    try {
      await bounded(
        admin.removeMembersFromConsumerGroup({ groupId: GROUP_ID, members: [{ memberId, reason: "replaced" }] }),
        RETIRE_TIMEOUT_MS,
      );
      d.log.info({ generation: n }, "replaced fan-out consumer taken out of its group");
    } catch (err) {
      d.log.debug(
        { generation: n, err: (err as Error).message },
        "could not take the replaced fan-out consumer out of its group; the group drops it after its session timeout",
      );
    } finally {
      await admin.close().catch(() => undefined);
    }
  }
}

/** A consumer's assignments as "topic[0,3]" for a log line. */
function describeAssignments(assignments: unknown): string {
  if (!Array.isArray(assignments)) return "none";
  return (
    (assignments as Array<{ topic?: string; partitions?: number[] }>)
      .filter((a) => (a.partitions ?? []).length > 0)
      .map((a) => `${a.topic ?? "?"}[${(a.partitions ?? []).join(",")}]`)
      .join(" ") || "none"
  );
}
