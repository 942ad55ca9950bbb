import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cpuByGroup, cpuGroup, cpuSecondsOf, processTree } from "./cpu-groups.ts";

describe("benchmark CPU breakdown", () => {
  it("names each platform process's group from its command line", () => {
    assert.equal(
      cpuGroup("/work/main/.tools/bin/java -Xms256m -cp /x/* kafka.Kafka /tmp/p/kafka/1/server.properties"),
      "kafka",
    );
    assert.equal(cpuGroup("/work/main/.tools/bin/redis-server 127.0.0.1:17001 [cluster]"), "redis");
    assert.equal(cpuGroup("nginx: worker process"), "nginx");
    assert.equal(cpuGroup("/usr/bin/node --import tsx /work/main/services/gateway/src/main.ts"), "gateways");
    assert.equal(cpuGroup("/usr/bin/node --import tsx /work/main/services/message/src/main.ts"), "message");
    assert.equal(cpuGroup("/usr/bin/node --import tsx /work/main/bench/lib/msg-client.ts"), "load clients");
    assert.equal(cpuGroup("/work/main/.tools/bin/mysqld-exporter --web.listen-address=127.0.0.1:19104"), "exporters");
    assert.equal(cpuGroup("/bin/bash"), "other");
  });

  it("adds up the ticks each group used between two snapshots, leaving out processes not in both", () => {
    const before = new Map([
      [1, { group: "kafka", ticks: 100 }],
      [2, { group: "kafka", ticks: 50 }],
      [3, { group: "gateways", ticks: 10 }],
      [4, { group: "other", ticks: 5 }],
    ]);
    const after = new Map([
      [1, { group: "kafka", ticks: 300 }],
      [2, { group: "kafka", ticks: 150 }],
      [3, { group: "gateways", ticks: 110 }],
      [5, { group: "other", ticks: 900 }],
    ]);
    assert.deepEqual(cpuByGroup(before, after, 10), [
      { group: "kafka", cores: 0.3 },
      { group: "gateways", cores: 0.1 },
    ]);
  });

  it("counts one platform's process trees only, not a process of the same kind beside it", () => {
    // 10: nginx master with worker 11; 20: a gateway; 30: another platform's kafka; 40: a load client.
    const before = new Map([
      [10, { group: "nginx", ticks: 0, ppid: 1 }],
      [11, { group: "nginx", ticks: 0, ppid: 10 }],
      [20, { group: "gateways", ticks: 0, ppid: 1 }],
      [30, { group: "kafka", ticks: 0, ppid: 1 }],
      [40, { group: "load clients", ticks: 0, ppid: 1 }],
    ]);
    const after = new Map([
      [10, { group: "nginx", ticks: 10, ppid: 1 }],
      [11, { group: "nginx", ticks: 90, ppid: 10 }],
      [20, { group: "gateways", ticks: 200, ppid: 1 }],
      [30, { group: "kafka", ticks: 5000, ppid: 1 }],
      [40, { group: "load clients", ticks: 700, ppid: 1 }],
    ]);
    assert.deepEqual([...processTree(after, [10, 20])].sort(), [10, 11, 20]);
    assert.equal(cpuSecondsOf(before, after, [10, 20]), 3);
    assert.deepEqual(cpuByGroup(before, after, 1, processTree(after, [10, 20])), [
      { group: "gateways", cores: 2 },
      { group: "nginx", cores: 1 },
    ]);
  });
});
