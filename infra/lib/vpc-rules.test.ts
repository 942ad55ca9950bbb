import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planNetwork } from "./cidr.ts";
import {
  assertVpcLayout,
  awsAssociationProblem,
  networkLayout,
  VpcLayoutError,
  vpcLayoutProblems,
  type VpcLayout,
} from "./vpc-rules.ts";

const ZONES = ["z-a", "z-b", "z-c"];

/** The design the seed first suggested: one VPC, the data segment's /16 as its secondary block. */
const singleVpc = (cloud: "aws" | "alicloud"): VpcLayout => ({
  cloud,
  vpcs: [{ name: "app", primary: "10.0.0.0/16", secondaries: ["172.16.0.0/16"], subnets: ["172.16.0.0/18"] }],
  links: [],
});

describe("AWS association restrictions", () => {
  it("refuses a block from another RFC 1918 range than the primary's, whichever the ranges", () => {
    const refused: Array<[string, string]> = [
      ["10.0.0.0/16", "172.16.0.0/16"],
      ["10.0.0.0/16", "192.168.0.0/16"],
      ["172.16.0.0/16", "10.1.0.0/16"],
      ["172.31.0.0/16", "192.168.0.0/20"],
      ["192.168.0.0/16", "10.0.0.0/16"],
      ["198.19.0.0/16", "10.0.0.0/16"],
      ["52.0.0.0/16", "10.0.0.0/16"],
      ["52.0.0.0/16", "198.19.0.0/16"],
    ];
    for (const [p, s] of refused) assert.match(awsAssociationProblem(p, s) ?? "", /AWS refuses/, `${p} + ${s}`);
  });

  it("permits a block from the same range, from 100.64.0.0/10, and public blocks on a private VPC", () => {
    const permitted: Array<[string, string]> = [
      ["10.0.0.0/16", "10.1.0.0/16"],
      ["172.16.0.0/16", "172.17.0.0/16"],
      ["10.0.0.0/16", "100.64.0.0/16"],
      ["192.168.0.0/16", "100.127.0.0/16"],
      ["10.0.0.0/16", "52.0.0.0/16"],
    ];
    for (const [p, s] of permitted) assert.equal(awsAssociationProblem(p, s), null, `${p} + ${s}`);
  });
});

describe("vpcLayoutProblems", () => {
  it("fails the single-VPC design on AWS, naming the rule, and passes it on Alibaba Cloud", () => {
    const aws = vpcLayoutProblems(singleVpc("aws"));
    assert.equal(aws.length, 1);
    assert.match(aws[0] ?? "", /^aws VPC app: AWS refuses 172\.16\.0\.0\/16 .* another RFC 1918 range/);
    assert.deepEqual(vpcLayoutProblems(singleVpc("alicloud")), []);
    assert.throws(() => assertVpcLayout(singleVpc("aws")), VpcLayoutError);
  });

  it("accepts the two-VPC layout the network components build, on both clouds, for the seed's segments", () => {
    const plan = planNetwork("10.0.0.0/16", "172.16.0.0/12", ZONES);
    for (const cloud of ["aws", "alicloud"] as const) {
      const layout = networkLayout(cloud, plan);
      assert.deepEqual(
        layout.vpcs.map((v) => [v.name, v.primary, v.subnets.length]),
        [
          ["app", "10.0.0.0/16", 6],
          ["data", "172.16.0.0/16", 3],
        ],
      );
      assert.deepEqual(layout.links, [{ kind: "peering", a: "app", b: "data" }]);
      assert.deepEqual(vpcLayoutProblems(layout), []);
    }
  });

  it("refuses linked VPCs whose blocks overlap", () => {
    const plan = planNetwork("10.0.0.0/16", "10.0.0.0/16", ZONES);
    const problems = vpcLayoutProblems(networkLayout("aws", plan));
    assert.ok(
      problems.some((p) => /peering app <-> data: 10\.0\.0\.0\/16 overlaps 10\.0\.0\.0\/16/.test(p)),
      problems.join("\n"),
    );
  });

  it("holds each cloud's block sizes: AWS /16-/28, Alibaba Cloud /8-/28", () => {
    const wide = (cloud: "aws" | "alicloud"): VpcLayout => ({
      cloud,
      vpcs: [{ name: "data", primary: "172.16.0.0/12", secondaries: [], subnets: ["172.16.0.0/16"] }],
      links: [],
    });
    assert.deepEqual(vpcLayoutProblems(wide("aws")), ["aws VPC data: block 172.16.0.0/12 is /12; allowed /16 to /28"]);
    assert.deepEqual(vpcLayoutProblems(wide("alicloud")), []);
  });

  it("refuses Alibaba Cloud's reserved ranges, subnets outside every block and subnets of the wrong size", () => {
    const layout: VpcLayout = {
      cloud: "alicloud",
      vpcs: [{ name: "app", primary: "100.64.0.0/16", secondaries: [], subnets: ["10.9.0.0/24", "100.64.0.0/30"] }],
      links: [],
    };
    assert.deepEqual(vpcLayoutProblems(layout), [
      "alicloud VPC app: block 100.64.0.0/16 overlaps the reserved range 100.64.0.0/10",
      "alicloud VPC app: subnet 10.9.0.0/24 lies in none of its blocks (100.64.0.0/16)",
      "alicloud VPC app: subnet 100.64.0.0/30 is /30; allowed /16 to /29",
    ]);
  });

  it("counts blocks against each cloud's quota", () => {
    const many = ["10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/16", "10.5.0.0/16"];
    const layout = (cloud: "aws" | "alicloud", secondaries: string[]): VpcLayout => ({
      cloud,
      vpcs: [{ name: "app", primary: "10.0.0.0/16", secondaries, subnets: [] }],
      links: [],
    });
    assert.deepEqual(vpcLayoutProblems(layout("aws", many)), ["aws VPC app: 6 IPv4 blocks; the default quota is 5"]);
    assert.deepEqual(vpcLayoutProblems(layout("alicloud", many)), []);
    assert.deepEqual(vpcLayoutProblems(layout("alicloud", [...many, "10.6.0.0/16"])), [
      "alicloud VPC app: 6 secondary blocks; at most 5",
    ]);
  });
});
