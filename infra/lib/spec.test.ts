import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { REPO_ROOT } from "../../base/root.mjs";
import { loadSpec, localPortAssignments, parseSpec, requireKubernetes, requireLocal, SpecError } from "./spec.ts";

const raw = (stack = "local") =>
  parse(readFileSync(join(REPO_ROOT, "stacks", `${stack}.yaml`), "utf8")) as Record<string, any>;

describe("platform spec", () => {
  it("accepts stacks/local.yaml with the seed's data tier", () => {
    const spec = loadSpec(join(REPO_ROOT, "stacks", "local.yaml"));
    assert.equal(spec.target, "local");
    assert.equal(spec.data.redis.primaries, 3);
    assert.equal(spec.data.kafka.replicationFactor, 3);
    assert.equal(spec.data.kafka.minInsyncReplicas, 2);
  });

  it("names the field, the value and what is allowed for a wrong type", () => {
    const r = raw();
    r.data.kafka.brokers = "three";
    assert.throws(() => parseSpec(r, "stacks/local.yaml"), {
      name: "SpecError",
      message: 'stacks/local.yaml: data.kafka.brokers: got "three"; expected number',
    });
  });

  it("rejects an unknown field instead of ignoring a typo", () => {
    const r = raw();
    r.data.redis.replicas = 1;
    assert.throws(() => parseSpec(r, "s.yaml"), {
      message: "s.yaml: data.redis.replicas: unknown field; allowed here: primaries, replicasPerPrimary",
    });
  });

  it("rejects a port outside 1024-65535 and a non-loopback bind address", () => {
    const r = raw();
    r.local.ports.database = 80;
    assert.throws(() => parseSpec(r, "s.yaml"), {
      message: "s.yaml: local.ports.database: got 80; must be at least 1024",
    });
    const r2 = raw();
    r2.local.bindAddress = "10.0.0.5";
    assert.throws(
      () => parseSpec(r2, "s.yaml"),
      /local\.bindAddress: got "10\.0\.0\.5"; an address in 127\.0\.0\.0\/8/,
    );
  });

  it("rejects a replication factor above the broker count and min ISR above the replication factor", () => {
    const r = raw();
    r.data.kafka.replicationFactor = 4;
    assert.throws(
      () => parseSpec(r, "s.yaml"),
      /data\.kafka\.replicationFactor: got 4; at most data\.kafka\.brokers \(3\)/,
    );
    const r2 = raw();
    r2.data.kafka.minInsyncReplicas = 4;
    assert.throws(
      () => parseSpec(r2, "s.yaml"),
      /data\.kafka\.minInsyncReplicas: got 4; at most data\.kafka\.replicationFactor \(3\)/,
    );
  });

  it("catches derived ports that collide (a Redis cluster bus on the database port)", () => {
    const r = raw();
    r.local.ports.database = r.local.ports.redisBus + 2;
    assert.throws(() => parseSpec(r, "s.yaml"), /collides with/);
  });

  it("derives one port per node, bus, broker, controller and JMX agent, all distinct", () => {
    const spec = requireLocal(loadSpec(join(REPO_ROOT, "stacks", "local.yaml")), "local");
    const ports = localPortAssignments(spec).map(([, p]) => p);
    assert.equal(ports.length, 8 + 6 * 2 + 3 * 3 + 2 + 2 + 1);
    assert.equal(new Set(ports).size, ports.length);
  });

  it("reports YAML syntax errors with a line number", () => {
    assert.throws(
      () => loadSpec(join(REPO_ROOT, "test", "fixtures", "broken.yaml")),
      (err: unknown) => err instanceof SpecError && /broken\.yaml:\d+:\d+: not valid YAML/.test(err.message),
    );
  });
});

describe("platform spec: target kubernetes", () => {
  it("accepts the three cloud stacks with the seed's numbers", () => {
    for (const name of ["aws-prod", "alicloud-prod", "multicloud"]) {
      const spec = requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", `${name}.yaml`)), name);
      assert.deepEqual(
        [spec.services.gateway.replicas, spec.services.message.replicas, spec.services.userCenter.replicas],
        [3, 6, 4],
        name,
      );
      assert.equal(spec.kubernetes.autoscaling.cpuUtilizationPercent, 80);
      assert.equal(spec.data.kafka.brokers, 3);
      assert.equal(spec.data.redis.primaries * (1 + spec.data.redis.replicasPerPrimary), 6);
      for (const cloud of [spec.clouds.aws, spec.clouds.alicloud]) {
        if (cloud === undefined) continue;
        assert.equal(cloud.zones.length, 3);
        assert.equal(cloud.data.tidb.tikv, 3);
      }
    }
    const aws = loadSpec(join(REPO_ROOT, "stacks", "aws-prod.yaml"));
    assert.equal(aws.clouds?.aws?.network.appCidr, "10.0.0.0/16");
    assert.equal(aws.clouds?.aws?.network.dataCidr, "172.16.0.0/12");
  });

  it("fills the seed's CIDRs in when a cloud leaves out network", () => {
    const r = raw("aws-prod");
    delete r.clouds.aws.network;
    const spec = parseSpec(r, "s.yaml");
    assert.deepEqual(spec.clouds?.aws?.network, {
      appCidr: "10.0.0.0/16",
      dataCidr: "172.16.0.0/12",
      natGateways: "perZone",
    });
  });

  it("rejects the app and data segments of one cloud overlapping, naming a free block", () => {
    const r = raw("aws-prod");
    r.clouds.aws.network.dataCidr = "10.0.128.0/17";
    assert.throws(() => parseSpec(r, "s.yaml"), {
      name: "SpecError",
      message:
        's.yaml: clouds.aws.network.dataCidr: got "10.0.128.0/17"; overlaps clouds.aws.network.appCidr (10.0.0.0/16): ' +
        "choose a disjoint block such as 10.1.0.0/17",
    });
  });

  it("rejects a segment the cloud would refuse as a VPC block, quoting the cloud's rule (infra/lib/vpc-rules.ts)", () => {
    const r = raw("alicloud-prod");
    r.clouds.alicloud.network.dataCidr = "100.64.0.0/16";
    assert.throws(() => parseSpec(r, "s.yaml"), {
      name: "SpecError",
      message:
        's.yaml: clouds.alicloud.network.dataCidr: got "100.64.0.0/16"; alicloud would refuse it: ' +
        "alicloud VPC data: block 100.64.0.0/16 overlaps the reserved range 100.64.0.0/10",
    });
    // AWS takes 100.64.0.0/10 as a VPC block, so the same segment plans there.
    const a = raw("aws-prod");
    a.clouds.aws.network.dataCidr = "100.64.0.0/16";
    assert.equal(parseSpec(a, "s.yaml").clouds?.aws?.network.dataCidr, "100.64.0.0/16");
  });

  it("refuses a public ACK API, which the program could not limit to the listed blocks", () => {
    const r = raw("alicloud-prod");
    r.clouds.alicloud.cluster.apiAccessCidrs = ["100.20.0.0/16"];
    assert.throws(() => parseSpec(r, "s.yaml"), {
      name: "SpecError",
      message:
        's.yaml: clouds.alicloud.cluster.apiAccessCidrs: got ["100.20.0.0/16"]; ACK\'s public API server SLB cannot be ' +
        "limited to listed blocks by this program (ACK owns its listener): remove the list and reach the API from the " +
        "VPC (a runner in it, the VPN, a bastion)",
    });
  });

  it("requires TLS at the edge of a cloud stack", () => {
    const r = raw("aws-prod");
    delete r.kubernetes.ingress.tls;
    assert.throws(() => parseSpec(r, "s.yaml"), {
      name: "SpecError",
      message:
        "s.yaml: kubernetes.ingress.tls: got missing; required on a cloud stack: { acmeEmail: <your address> } (clients send " +
        "tokens over the WebSocket, which must not cross the internet in plaintext)",
    });
  });

  it("rejects blocks that overlap across the VPN when both clouds are present", () => {
    const r = raw("multicloud");
    r.clouds.alicloud.network.appCidr = "10.0.0.0/16";
    assert.throws(() => parseSpec(r, "s.yaml"), {
      message:
        's.yaml: clouds.alicloud.network.appCidr: got "10.0.0.0/16"; overlaps clouds.aws.network.appCidr (10.0.0.0/16) ' +
        "on the other side of the VPN: choose a disjoint block such as 10.1.0.0/16",
    });
    const r2 = raw("multicloud");
    r2.clouds.alicloud.network.dataCidr = "172.20.0.0/16";
    assert.throws(
      () => parseSpec(r2, "s.yaml"),
      /clouds\.alicloud\.network\.dataCidr: got "172\.20\.0\.0\/16"; overlaps clouds\.aws\.network\.dataCidr \(172\.16\.0\.0\/12\)/,
    );
  });

  it("rejects a Service range inside a VPC block", () => {
    const r = raw("aws-prod");
    r.clouds.aws.cluster.serviceCidr = "172.20.0.0/16";
    assert.throws(
      () => parseSpec(r, "s.yaml"),
      new RegExp(
        String.raw`clouds\.aws\.cluster\.serviceCidr: got "172\.20\.0\.0\/16"; ` +
          String.raw`overlaps clouds\.aws\.network\.dataCidr \(172\.16\.0\.0\/12\): choose a disjoint block such as 10\.1\.0\.0\/16$`,
      ),
    );
  });

  it("rejects 2 zones where 3 are needed, suggesting the missing one", () => {
    const r = raw("aws-prod");
    r.clouds.aws.zones = ["us-east-1a", "us-east-1b"];
    assert.throws(() => parseSpec(r, "s.yaml"), {
      message:
        's.yaml: clouds.aws.zones: got ["us-east-1a","us-east-1b"]; 3 zones are needed so a zone loss keeps a quorum ' +
        "of every 3-replica store: add a zone such as us-east-1c",
    });
  });

  it("rejects a zone of another region and a zone listed twice", () => {
    const r = raw("alicloud-prod");
    r.clouds.alicloud.zones[2] = "cn-shanghai-b";
    assert.throws(() => parseSpec(r, "s.yaml"), {
      message:
        's.yaml: clouds.alicloud.zones.2: got "cn-shanghai-b"; not a zone of cn-hangzhou; zone names look like cn-hangzhou-h',
    });
    const r2 = raw("aws-prod");
    r2.clouds.aws.zones[2] = "us-east-1a";
    assert.throws(() => parseSpec(r2, "s.yaml"), /clouds\.aws\.zones\.2: got "us-east-1a"; listed twice/);
  });

  it("rejects an unknown region with the allow-list", () => {
    const r = raw("aws-prod");
    r.clouds.aws.region = "us-east-9";
    assert.throws(() => parseSpec(r, "s.yaml"), {
      message:
        's.yaml: clouds.aws.region: got "us-east-9"; not a supported aws region; allowed: us-east-1, us-east-2, ' +
        "us-west-2, eu-west-1, eu-central-1, ap-southeast-1, ap-northeast-1 (infra/lib/regions.ts says why)",
    });
  });

  it("rejects a negative replica count", () => {
    const r = raw("aws-prod");
    r.clouds.aws.data.tidb.tikv = -1;
    assert.throws(() => parseSpec(r, "s.yaml"), {
      message: "s.yaml: clouds.aws.data.tidb.tikv: got -1; must be at least 1",
    });
    const r2 = raw("aws-prod");
    r2.services.gateway.replicas = -3;
    assert.throws(() => parseSpec(r2, "s.yaml"), {
      message: "s.yaml: services.gateway.replicas: got -3; must be at least 1",
    });
  });

  it("rejects a host-bits typo, an app segment wider than a VPC takes, and node groups out of order", () => {
    const r = raw("aws-prod");
    r.clouds.aws.network.appCidr = "10.0.0.1/16";
    assert.throws(
      () => parseSpec(r, "s.yaml"),
      /appCidr: got "10\.0\.0\.1\/16"; expected the network address of the block \(10\.0\.0\.0\/16\)/,
    );
    const r2 = raw("aws-prod");
    r2.clouds.aws.network.appCidr = "10.0.0.0/8";
    assert.throws(() => parseSpec(r2, "s.yaml"), /appCidr: got "10\.0\.0\.0\/8"; a block from \/16 to \/24/);
    const r3 = raw("aws-prod");
    r3.clouds.aws.cluster.nodeGroups.app.min = 7;
    assert.throws(() => parseSpec(r3, "s.yaml"), {
      message: "s.yaml: clouds.aws.cluster.nodeGroups.app.min: got 7; at most desired (6)",
    });
  });

  it("bounds the cloud lists: 20 tags, 16 zones", () => {
    const r = raw("aws-prod");
    for (let i = 0; i < 20; i++) r.tags[`extra-${i}`] = "x";
    assert.throws(() => parseSpec(r, "s.yaml"), {
      message: /^s\.yaml: tags: got a mapping of \d+ keys; must have at most 20 tags \(Alibaba Cloud's limit/,
    });
    const z = raw("aws-prod");
    z.clouds.aws.zones = Array.from({ length: 17 }, (_, i) => `us-east-1${i}`);
    assert.throws(() => parseSpec(z, "s.yaml"), {
      message: "s.yaml: clouds.aws.zones: got a list of 17 items; must be at most 16 items",
    });
  });

  it("requires the tags, the multicloud section with both clouds, and an autoscaler ceiling above the floor", () => {
    const r = raw("aws-prod");
    delete r.tags["cost-center"];
    assert.throws(() => parseSpec(r, "s.yaml"), /tags\.cost-center: got missing; required tag/);
    const r2 = raw("multicloud");
    delete r2.multicloud;
    assert.throws(
      () => parseSpec(r2, "s.yaml"),
      /multicloud: got missing; required when both clouds\.aws and clouds\.alicloud are present/,
    );
    const r3 = raw("aws-prod");
    r3.kubernetes.services.message.maxReplicas = 5;
    assert.throws(() => parseSpec(r3, "s.yaml"), {
      message:
        "s.yaml: kubernetes.services.message.maxReplicas: got 5; at least services.message.replicas (6), the autoscaler's lower bound",
    });
  });

  it("keeps the kubernetes sections out of a local stack and requires them in a kubernetes one", () => {
    const r = raw();
    r.tags = { project: "x" };
    assert.throws(
      () => parseSpec(r, "s.yaml"),
      /tags: got \{"project":"x"\}; only a target "kubernetes" stack has this section/,
    );
    const r2 = raw("aws-prod");
    delete r2.clouds;
    assert.throws(() => parseSpec(r2, "s.yaml"), /clouds: got missing; required when target is kubernetes/);
    assert.throws(
      () => requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", "local.yaml")), "local"),
      /Pulumi deploys only target "kubernetes" stacks/,
    );
  });

  it("asks for a broker count MSK can spread evenly over the zones", () => {
    const r = raw("aws-prod");
    r.data.kafka.brokers = 4;
    assert.throws(() => parseSpec(r, "s.yaml"), {
      message:
        "s.yaml: data.kafka.brokers: got 4; a multiple of 3: MSK places the same number of brokers in every zone",
    });
  });

  it("takes images either from a named registry or from a build, never both or neither", () => {
    const r = raw("aws-prod");
    r.kubernetes.image.registry = "registry.example.com/im";
    assert.throws(() => parseSpec(r, "s.yaml"), {
      message:
        's.yaml: kubernetes.image.build: got {"platforms":["linux/amd64"]}; expected either registry (prebuilt images ' +
        "by tag) or build (Pulumi builds services/*/Dockerfile and pushes to ECR / Container Registry), not both",
    });
    const r2 = raw("aws-prod");
    delete r2.kubernetes.image.build;
    assert.throws(
      () => parseSpec(r2, "s.yaml"),
      /s\.yaml: kubernetes\.image\.registry: got missing; expected either registry .* or build .*\)$/,
    );
    const r3 = raw("alicloud-prod");
    delete r3.kubernetes.image.build.alicloudRegistryUser;
    assert.throws(
      () => parseSpec(r3, "s.yaml"),
      /kubernetes\.image\.build\.alicloudRegistryUser: got missing; required when building for clouds\.alicloud/,
    );
    const r4 = raw("aws-prod");
    r4.kubernetes.image.build.platforms = ["windows/amd64"];
    assert.throws(
      () => parseSpec(r4, "s.yaml"),
      /kubernetes\.image\.build\.platforms\.0: got "windows\/amd64"; allowed: "linux\/amd64", "linux\/arm64"/,
    );
  });

  it("keeps the Kubernetes API private by default and refuses to open it to the whole internet", () => {
    const r = raw("aws-prod");
    delete r.clouds.aws.cluster.apiAccessCidrs;
    assert.deepEqual(parseSpec(r, "s.yaml").clouds?.aws?.cluster.apiAccessCidrs, []);
    const r2 = raw("aws-prod");
    r2.clouds.aws.cluster.apiAccessCidrs = ["203.0.113.0/24", "0.0.0.0/0"];
    assert.throws(() => parseSpec(r2, "s.yaml"), {
      message:
        's.yaml: clouds.aws.cluster.apiAccessCidrs.1: got "0.0.0.0/0"; opens the Kubernetes API to the whole internet: ' +
        "list the operators' egress blocks (e.g. 203.0.113.0/24), or none for a private endpoint",
    });
  });
});
