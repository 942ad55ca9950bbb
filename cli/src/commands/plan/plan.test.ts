import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UserError } from "../../errors.ts";
import { plan, renderPlan } from "./index.ts";

describe("imctl plan", () => {
  it("reports resources by layer, the CIDR plan, the policy verdict and the monthly cost of a stack", async () => {
    const r = await plan({ stack: "multicloud" });
    assert.deepEqual(r.clouds, ["aws", "alicloud"]);
    for (const x of r.resources) assert.deepEqual(Object.keys(x).sort(), ["custom", "layer", "name", "type"]);
    const layers = new Set(r.resources.map((x) => x.layer));
    for (const l of ["network", "cluster", "gateway", "data", "services", "observability"]) assert.ok(layers.has(l), l);
    assert.ok(r.resources.some((x) => x.type === "im:network:IpsecVpn" && x.layer === "network"));
    assert.deepEqual(r.policyViolations, []);
    assert.deepEqual(
      r.cidrPlan.map((c) => [c.cloud, c.appCidr, c.dataVpcCidr]),
      [
        ["aws", "10.0.0.0/16", "172.16.0.0/16"],
        ["alicloud", "10.1.0.0/16", "192.168.0.0/16"],
      ],
    );
    // Two VPCs per cloud and the peering between them, priced.
    assert.deepEqual(
      r.cidrPlan.map((c) => [c.cloud, c.vpcs.map((v) => `${v.name} ${v.cidr}`), c.link.kind, c.link.monthlyUsd]),
      [
        ["aws", ["app 10.0.0.0/16", "data 172.16.0.0/16"], "peering", 0],
        ["alicloud", ["app 10.1.0.0/16", "data 192.168.0.0/16"], "peering", 0],
      ],
    );
    assert.ok(r.resources.some((x) => x.type === "aws:ec2/vpcPeeringConnection:VpcPeeringConnection"));
    assert.ok(r.resources.some((x) => x.type === "alicloud:vpc/peerConnection:PeerConnection"));
    assert.ok(r.cost.lines.some((l) => l.cloud === "alicloud" && l.item === "VPC peering (app <-> data)"));
    assert.ok(r.notes.some((n) => n.startsWith("the VPN carries the two app segments only, for operators")));
    // ApsaraMQ's Topic has no typed replication or min ISR field: the plan says so rather than claim them enforced.
    assert.ok(
      r.notes.some((n) => n.startsWith("ApsaraMQ for Kafka: its Topic resource has no typed replication-factor")),
    );
    // Its VPC SASL endpoint is plaintext: the plan says so and why the SSL endpoint is not used.
    assert.ok(r.notes.some((n) => n.startsWith("ApsaraMQ for Kafka: the services authenticate with SCRAM-SHA-256")));
    assert.ok(r.monthlyCostUsd > 0);
    assert.ok(r.capacity.every((c) => c.fits === true));
    // The JSON carries no resource inputs: secrets (the VPN's pre-shared keys) never reach the output.
    assert.doesNotMatch(JSON.stringify(r), /psk/);
    const text = renderPlan(r);
    assert.match(text, /\n {4}VPC data {2}192\.168\.0\.0\/16 +data subnets, no internet route/);
    assert.match(text, /\n {4}link {6}VPC peering app <-> data, routed both ways; 0\.00 USD\/month/);
    for (const heading of ["CIDR plan:", "policies (", "no violations", "monthly cost", "total:"])
      assert.ok(text.includes(heading), heading);
  });

  it("plans an existing-cluster stack: no clouds, no cost, the policies passed, no generated secret in the output", async () => {
    const r = await plan({ stack: "embedded-cluster" });
    assert.deepEqual(r.clouds, []);
    assert.equal(r.clusterContext, "imctl-embedded");
    assert.equal(r.monthlyCostUsd, 0);
    assert.deepEqual(r.cidrPlan, []);
    assert.deepEqual(r.policyViolations, []);
    assert.ok(r.policiesChecked.includes("im-pod-security-restricted"));
    assert.ok(r.resources.some((x) => x.type === "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"));
    assert.ok(!r.resources.some((x) => /^(aws|alicloud|random|docker-build):/.test(x.type)));
    assert.ok(r.notes.some((n) => n.startsWith("existing cluster (context imctl-embedded): no cloud resource")));
    assert.match(renderPlan(r), /^plan for stack embedded-cluster \(existing cluster, context imctl-embedded\)/);
  });

  it("turns a stack the program cannot deploy into a user error naming the field", async () => {
    await assert.rejects(
      () => plan({ stack: "local" }),
      (err: unknown) =>
        err instanceof UserError &&
        /target: got "local"; Pulumi deploys only target "kubernetes" stacks/.test(err.message),
    );
  });
});
