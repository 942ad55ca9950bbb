/**
 * Moves partition leaderships on a real Kafka cluster without stopping a broker: the replicas of each partition are
 * put in a new order (an AlterPartitionReassignments with the same replica set), so another replica becomes the
 * preferred leader, and the controller's next preferred-leader check (leader.imbalance.check.interval.seconds, a few
 * seconds on a test stack) hands the leadership over: what a broker that comes back, or an operator's election, does.
 * Raw protocol calls, since the client's metadata leaves internal topics out (__consumer_offsets, whose partition
 * leaders are the consumer groups' coordinators).
 */
import { alterPartitionReassignmentsV0, Connection, metadataV12 } from "@platformatic/kafka";

export interface LeaderMove {
  topic: string;
  partition: number;
  from: number;
  to: number;
}

async function withConnection<T>(bootstrap: string[], fn: (c: Connection) => Promise<T>): Promise<T> {
  const [host, port] = bootstrap[0]!.split(":");
  const connection = new Connection("it-leaders");
  try {
    await connection.connect(host!, Number(port));
    return await fn(connection);
  } finally {
    await connection.close();
  }
}

interface PartitionState {
  topic: string;
  partition: number;
  leader: number;
  replicas: number[];
}

async function partitions(c: Connection, topics: string[]): Promise<PartitionState[]> {
  const md = await metadataV12.api.async(c, topics, false, false);
  return md.topics.flatMap((t) =>
    t.partitions.map((p) => ({
      topic: t.name ?? "",
      partition: p.partitionIndex,
      leader: p.leaderId,
      replicas: p.replicaNodes,
    })),
  );
}

/** Leaders by "topic/partition". */
export async function leaders(bootstrap: string[], topics: string[]): Promise<Map<string, number>> {
  return withConnection(bootstrap, async (c) => {
    return new Map((await partitions(c, topics)).map((p) => [`${p.topic}/${p.partition}`, p.leader]));
  });
}

/**
 * Makes the next replica of each partition of `topics` its preferred leader (the current leader goes last);
 * resolves with the moves asked for.
 */
export async function preferOtherLeaders(bootstrap: string[], topics: string[]): Promise<LeaderMove[]> {
  return withConnection(bootstrap, async (c) => {
    const moves: LeaderMove[] = [];
    const request = new Map<string, Array<{ partitionIndex: number; replicas: number[] }>>();
    for (const p of await partitions(c, topics)) {
      if (p.replicas.length < 2) continue;
      const replicas = [...p.replicas.filter((r) => r !== p.leader), p.leader];
      request.set(p.topic, [...(request.get(p.topic) ?? []), { partitionIndex: p.partition, replicas }]);
      moves.push({ topic: p.topic, partition: p.partition, from: p.leader, to: replicas[0]! });
    }
    const res = await alterPartitionReassignmentsV0.api.async(
      c,
      30_000,
      false,
      [...request].map(([name, partitions]) => ({ name, partitions })),
    );
    const refused = res.responses.flatMap((t) =>
      t.partitions.filter((x) => x.errorCode !== 0).map((x) => `${t.name}/${x.partitionIndex}: ${x.errorCode}`),
    );
    if (res.errorCode !== 0 || refused.length > 0)
      throw new Error(`the reassignment was refused: ${res.errorCode} ${res.errorMessage ?? ""} ${refused.join(", ")}`);
    return moves;
  });
}
