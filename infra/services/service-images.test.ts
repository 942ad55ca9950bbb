import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { REPO_ROOT } from "../../base/root.mjs";
import { loadSpec, requireKubernetes, type KubernetesPlatformSpec } from "../lib/spec.ts";
import { ofType, one, runWithMocks, type RecordedResource } from "../mocks.ts";
import { deployPlatform } from "../platform.ts";
import { acrInstanceName } from "./service-images.ts";

const stack = (name: string): KubernetesPlatformSpec =>
  requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", `${name}.yaml`)), name);
const run = async (spec: KubernetesPlatformSpec) =>
  (await runWithMocks(spec.name, () => deployPlatform(spec))).resources;
const input = (r: RecordedResource, path: string): any => path.split(".").reduce<any>((v, k) => v?.[k], r.inputs);
const IMAGE = "docker-build:index:Image";
const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const imageOf = (rs: RecordedResource[], cloud: string, svc: string) =>
  input(one(rs, DEPLOYMENT, `${cloud}-services-${svc}-stable`), "spec.template.spec.containers.0.image");
const ECR = "000000000000.dkr.ecr.mock-region.amazonaws.com";

describe("service images built and pushed to ECR (stacks/aws-prod.yaml)", () => {
  let rs: RecordedResource[];
  before(async () => {
    rs = await run(stack("aws-prod"));
  });

  it("builds each service's Dockerfile from the repository root for linux/amd64 and pushes it", () => {
    const images = ofType(rs, IMAGE);
    assert.deepEqual(
      images.map((i) => i.name),
      ["aws-images-gateway", "aws-images-message", "aws-images-user-center"],
    );
    for (const svc of ["gateway", "message", "user-center"]) {
      const image = one(rs, IMAGE, `aws-images-${svc}`);
      assert.deepEqual(input(image, "context"), { location: "." });
      assert.deepEqual(input(image, "dockerfile"), { location: `./services/${svc}/Dockerfile` });
      assert.deepEqual(input(image, "platforms"), ["linux/amd64"]);
      assert.equal(input(image, "push"), true);
      assert.equal(input(image, "buildOnPreview"), false, "a preview needs no Docker daemon");
      assert.deepEqual(input(image, "tags"), [`${ECR}/aws-prod/${svc}:0.1.0`]);
      assert.equal(input(image, "cacheTo.0.registry.ref"), `${ECR}/aws-prod/${svc}:buildcache`);
    }
  });

  it("logs in to ECR with its authorization token, kept secret", () => {
    const image = one(rs, IMAGE, "aws-images-message");
    assert.deepEqual(input(image, "registries"), [{ address: ECR, username: "AWS", password: "mock-ecr-token" }]);
    assert.ok(
      image.secretPaths.some((p) => p.startsWith("registries")),
      `secret paths: ${image.secretPaths.join(", ")}`,
    );
  });

  it("keeps release tags immutable, scans on push and encrypts each repository", () => {
    const repos = ofType(rs, "aws:ecr/repository:Repository");
    assert.deepEqual(
      repos.map((r) => input(r, "name")),
      ["aws-prod/gateway", "aws-prod/message", "aws-prod/user-center"],
      "per stack: two stacks share an account",
    );
    for (const r of repos) {
      assert.equal(input(r, "imageTagMutability"), "IMMUTABLE_WITH_EXCLUSION");
      assert.deepEqual(input(r, "imageTagMutabilityExclusionFilters"), [
        { filter: "buildcache", filterType: "WILDCARD" },
      ]);
      assert.equal(input(r, "imageScanningConfiguration.scanOnPush"), true);
      assert.equal(input(r, "encryptionConfigurations.0.encryptionType"), "KMS");
    }
  });

  it("runs the stable and canary Deployments on the pushed image, by digest", () => {
    for (const svc of ["gateway", "message", "user-center"]) {
      const ref = imageOf(rs, "aws", svc);
      assert.match(ref, new RegExp(`^${ECR.replace(/\./g, "\\.")}/aws-prod/${svc}:0\\.1\\.0@sha256:[0-9a-f]{64}$`));
      assert.equal(
        input(one(rs, DEPLOYMENT, `aws-services-${svc}-canary`), "spec.template.spec.containers.0.image"),
        ref,
      );
    }
    assert.notEqual(imageOf(rs, "aws", "gateway"), imageOf(rs, "aws", "message"));
  });
});

describe("service images on Alibaba Cloud Container Registry (stacks/alicloud-prod.yaml)", () => {
  let rs: RecordedResource[];
  before(async () => {
    rs = await run(stack("alicloud-prod"));
  });

  it("pushes to the instance's public domain with the stack's user and a generated password", () => {
    assert.equal(
      input(
        one(rs, "alicloud:cr/registryEnterpriseInstance:RegistryEnterpriseInstance", "alicloud-images-registry"),
        "instanceName",
      ),
      "alicloud-prod-images",
    );
    const image = one(rs, IMAGE, "alicloud-images-gateway");
    const domain = "alicloud-prod-images-registry.cn-hangzhou.cr.aliyuncs.com";
    assert.deepEqual(input(image, "tags"), [`${domain}/im/gateway:0.1.0`]);
    assert.deepEqual(input(image, "registries"), [
      {
        address: domain,
        username: "platform-team@example.onaliyun.com",
        password: "mock-password-alicloud-images-registry-password",
      },
    ]);
    const instance = one(
      rs,
      "alicloud:cr/registryEnterpriseInstance:RegistryEnterpriseInstance",
      "alicloud-images-registry",
    );
    assert.equal(input(instance, "password"), "mock-password-alicloud-images-registry-password");
    assert.ok(instance.secretPaths.includes("password"));
  });

  it("keeps release repositories' tags immutable, the build cache in its own repository, and pulls over the VPC", () => {
    const repos = ofType(rs, "alicloud:cs/registryEnterpriseRepo:RegistryEnterpriseRepo").map((r) => [
      input(r, "name"),
      input(r, "tagImmutability"),
      input(r, "repoType"),
    ]);
    assert.deepEqual(repos, [
      ["gateway", true, "PRIVATE"],
      ["message", true, "PRIVATE"],
      ["user-center", true, "PRIVATE"],
      ["build-cache", false, "PRIVATE"],
    ]);
    const link = one(rs, "alicloud:cr/vpcEndpointLinkedVpc:VpcEndpointLinkedVpc", "alicloud-images-vpc-endpoint");
    assert.equal(input(link, "vpcId"), "alicloud-network-vpc-id");
    assert.match(
      imageOf(rs, "alicloud", "message"),
      /^alicloud-prod-images-registry-vpc\.cn-hangzhou\.cr\.aliyuncs\.com\/im\/message:0\.1\.0@sha256:[0-9a-f]{64}$/,
    );
  });
});

describe("registry instance names", () => {
  it("fit Container Registry's 30 characters and never end in a hyphen", () => {
    assert.equal(acrInstanceName("multicloud"), "multicloud-images");
    assert.equal(acrInstanceName("a-very-long-stack-name-for-staging"), "a-very-long-stack-name-images");
    for (const stack of ["x", "abcdefghijklmnopqrstuvw-x", "abcdefghijklmnopqrstuv-", "a".repeat(63)]) {
      const n = acrInstanceName(stack);
      assert.ok(n.length <= 30 && /^[a-z0-9][a-z0-9-]*[a-z0-9]$/.test(n) && !n.includes("--"), n);
    }
  });
});

describe("images taken by tag from the registry a stack names (stacks/multicloud.yaml)", () => {
  it("builds nothing and runs <registry>/<service>:<tag> in both clusters", async () => {
    const rs = await run(stack("multicloud"));
    assert.equal(ofType(rs, IMAGE).length, 0);
    for (const cloud of ["aws", "alicloud"])
      assert.equal(imageOf(rs, cloud, "user-center"), "registry.example.com/im/user-center:0.1.0");
  });
});
