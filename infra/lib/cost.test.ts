import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../../base/root.mjs";
import { forAll } from "../test/prng.ts";
import { monthlyCost, type CostInput } from "./cost.ts";
import { FIXED, INSTANCES, KAFKA_BROKERS, REDIS_NODES } from "./pricing.ts";
import { loadSpec, requireKubernetes } from "./spec.ts";

const stack = (name: string) => requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", `${name}.yaml`)), name);

describe("cost model", () => {
  it("prices every line of the three stacks and names the estimates", () => {
    for (const name of ["aws-prod", "alicloud-prod", "multicloud"]) {
      const est = monthlyCost(stack(name));
      assert.deepEqual(est.unpriced, [], name);
      assert.ok(est.monthlyCostUsd > 0);
      const sum = est.lines.reduce((n, l) => n + l.monthlyUsd, 0);
      assert.ok(Math.abs(sum - est.monthlyCostUsd) < 0.01);
    }
    const multi = monthlyCost(stack("multicloud")).monthlyCostUsd;
    const apart = monthlyCost(stack("aws-prod")).monthlyCostUsd + monthlyCost(stack("alicloud-prod")).monthlyCostUsd;
    assert.ok(multi > apart, "both clouds plus the VPN cost more than either alone");
  });

  it("aws-prod: 3 NAT gateways, 6 ElastiCache nodes, 3 MSK brokers at the table's prices", () => {
    const est = monthlyCost(stack("aws-prod"));
    const line = (item: string) => est.lines.find((l) => l.item.startsWith(item));
    assert.equal(line("NAT gateways")?.quantity, 3);
    assert.equal(line("NAT gateways")?.monthlyUsd, 98.55); // 3 x 0.045 x 730
    assert.equal(line("Redis nodes")?.quantity, 6);
    assert.equal(line("Kafka brokers")?.quantity, 3);
    assert.equal(line("Kubernetes control plane")?.monthlyUsd, 73);
    // The app-data link is priced and shown even though peering has no hourly charge.
    assert.deepEqual(
      [line("VPC peering (app <-> data)")?.quantity, line("VPC peering (app <-> data)")?.monthlyUsd],
      [1, 0],
    );
  });

  it("never decreases when a node, a broker or a zone's NAT gateway is added", () => {
    const base = stack("aws-prod");
    forAll(
      (r) => ({ app: r.int(0, 20), data: r.int(0, 10), brokers: r.int(1, 12), extra: r.int(1, 5), single: r.bool() }),
      ({ app, data, brokers, extra, single }) => {
        const aws = base.clouds.aws;
        if (aws === undefined) throw new Error("aws-prod has clouds.aws");
        const make = (a: number, b: number): CostInput => ({
          clouds: {
            aws: {
              ...aws,
              network: { ...aws.network, natGateways: single ? "single" : "perZone" },
              cluster: {
                ...aws.cluster,
                nodeGroups: {
                  app: { ...aws.cluster.nodeGroups.app, desired: a },
                  data: { ...aws.cluster.nodeGroups.data, desired: data },
                },
              },
            },
          },
          data: { redis: base.data.redis, kafka: { brokers: b } },
        });
        const c0 = monthlyCost(make(app, brokers)).monthlyCostUsd;
        assert.ok(c0 >= 0);
        assert.ok(monthlyCost(make(app + extra, brokers)).monthlyCostUsd > c0);
        assert.ok(monthlyCost(make(app, brokers + extra)).monthlyCostUsd > c0);
      },
      { runs: 100 },
    );
  });

  it("reports an instance type missing from the price table instead of pricing it at zero", () => {
    const s = stack("aws-prod");
    const aws = s.clouds.aws;
    if (aws === undefined) throw new Error("aws-prod has clouds.aws");
    const est = monthlyCost({
      ...s,
      clouds: {
        aws: {
          ...aws,
          cluster: {
            ...aws.cluster,
            nodeGroups: { ...aws.cluster.nodeGroups, app: { instanceType: "x9.huge", min: 1, desired: 1, max: 1 } },
          },
        },
      },
    });
    assert.deepEqual(est.unpriced, ["aws: app nodes (x9.huge)"]);
  });

  it("every price names its source and is positive, but the VPC peering's, which has no hourly charge", () => {
    const all = [INSTANCES, REDIS_NODES, KAFKA_BROKERS, FIXED].flatMap((table) =>
      Object.values(table).flatMap((perCloud) => Object.values(perCloud)),
    );
    assert.ok(all.length > 20);
    for (const p of all) {
      assert.match(p.source, /^https:\/\//);
      const free = p === FIXED.aws.vpcPeering || p === FIXED.alicloud.vpcPeering;
      assert.ok(free ? p.usd === 0 : p.usd > 0, p.source);
    }
  });
});
