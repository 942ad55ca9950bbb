import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { REPO_ROOT } from "../../cli/src/lib/paths.ts";
import { loadSpec, requireKubernetes, type KubernetesPlatformSpec } from "../lib/spec.ts";
import { ofType, runWithMocks, type RecordedResource } from "../mocks.ts";
import { deployPlatform } from "../platform.ts";

const stack = (name: string): KubernetesPlatformSpec => requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", `${name}.yaml`)), name);
const run = async (spec: KubernetesPlatformSpec) => (await runWithMocks(spec.name, () => deployPlatform(spec))).resources;
const input = (r: RecordedResource, path: string): any => path.split(".").reduce<any>((v, k) => v?.[k], r.inputs);

describe("Kafka topics from data.kafka.topics", () => {
  let multicloud: RecordedResource[];
  before(async () => {
    multicloud = await run(stack("multicloud"));
  });

  it("creates each topic on MSK with replication 3 and min.insync.replicas 2", () => {
    const topics = ofType(multicloud, "aws:msk/topic:Topic");
    assert.deepEqual(topics.map((t) => [input(t, "name"), input(t, "partitionCount"), input(t, "replicationFactor")]), [["im.message.stored", 12, 3], ["im.message.notify", 12, 3]]);
    for (const t of topics) {
      assert.equal(input(t, "clusterArn"), "arn:mock:aws:msk/cluster:Cluster:aws-data-kafka");
      assert.equal(JSON.parse(input(t, "configs"))["min.insync.replicas"], "2");
    }
  });

  it("creates each topic on ApsaraMQ as a local-storage topic with Kafka's own replication", () => {
    const topics = ofType(multicloud, "alicloud:alikafka/topic:Topic");
    assert.deepEqual(topics.map((t) => [input(t, "topic"), input(t, "partitionNum"), input(t, "localTopic")]), [["im.message.stored", 12, true], ["im.message.notify", 12, true]]);
    for (const t of topics) {
      const configs = JSON.parse(input(t, "configs"));
      assert.deepEqual([configs["replication-factor"], configs["min.insync.replicas"]], ["3", "2"]);
      assert.equal(input(t, "instanceId"), "alicloud-data-kafka-id");
    }
  });

  it("creates KafkaTopics for Strimzi, with the spec's replication and min ISR", async () => {
    const spec = stack("aws-prod");
    const aws = spec.clouds.aws;
    if (aws === undefined) throw new Error("aws-prod has clouds.aws");
    const kafka = { ...spec.data.kafka, topics: [{ name: "im.message.stored", partitions: 24 }] };
    const rs = await run({ ...spec, data: { ...spec.data, kafka }, clouds: { aws: { ...aws, data: { ...aws.data, kafka: { ...aws.data.kafka, mode: "strimzi" } } } } });
    assert.equal(ofType(rs, "aws:msk/topic:Topic").length, 0);
    const [topic, ...rest] = ofType(rs, "kubernetes:kafka.strimzi.io/v1beta2:KafkaTopic");
    assert.equal(rest.length, 0);
    assert.ok(topic);
    assert.deepEqual(input(topic, "metadata.labels"), { "strimzi.io/cluster": "im-kafka" });
    assert.deepEqual([input(topic, "spec.partitions"), input(topic, "spec.replicas"), input(topic, "spec.config")["min.insync.replicas"]], [24, 3, "2"]);
  });
});
