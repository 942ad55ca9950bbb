/**
 * The services' images in one cloud's own registry: each of services/<service>/Dockerfile built from the repository
 * root (the Dockerfiles copy package.json and services/ from there) with @pulumi/docker-build, pushed with the
 * registry's credentials, and referenced by digest, so a pod always runs exactly the bytes that were pushed.
 * - AWS: an ECR repository per service (tags immutable except the build cache's, scanned on push, KMS-encrypted);
 *   the push credentials come from ECR's short-lived authorization token.
 * - Alibaba Cloud: a Container Registry Enterprise Edition instance with a namespace and a repository per service
 *   (tags immutable), linked to the VPC; the images are pushed to its public domain and pulled through its VPC
 *   domain. Its login password is generated here and kept secret in the state.
 * Built only at `pulumi up` (not on preview): a preview needs no Docker daemon.
 */
import * as alicloud from "@pulumi/alicloud";
import * as aws from "@pulumi/aws";
import * as dockerBuild from "@pulumi/docker-build";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { CloudName } from "../lib/regions.ts";

/** The services that have a Dockerfile, by their image (and Kubernetes) name. */
export const IMAGE_SERVICES = ["gateway", "message", "user-center"] as const;
export type ImageService = (typeof IMAGE_SERVICES)[number];

/** Tag of the registry build cache; ECR lets only this tag move. */
export const CACHE_TAG = "buildcache";
/** Alibaba Cloud: the repository of the build cache (one tag per service). */
export const CACHE_REPOSITORY = "build-cache";
/** Namespace of the Alibaba Cloud registry instance. */
export const ACR_NAMESPACE = "im";

export interface ServiceImagesArgs {
  cloud: CloudName;
  region: string;
  /** The version: every image is pushed as <repository>:<tag>. */
  tag: string;
  /** e.g. ["linux/amd64"]. */
  platforms: readonly ("linux/amd64" | "linux/arm64")[];
  /** Alibaba Cloud only: the account or RAM user name docker login pairs with the instance password. */
  alicloudRegistryUser?: string | undefined;
  /** Alibaba Cloud only: the VPC whose nodes pull through the registry's VPC domain, and a vSwitch in it. */
  vpc?: { vpcId: pulumi.Input<string>; vswitchId: pulumi.Input<string> } | undefined;
  /** Build context and Dockerfiles are relative to the Pulumi project directory (the repository root). Default ".". */
  context?: string;
  tags: Record<string, string>;
}

interface Registry {
  /** Where the push goes: host[/path] of each service's repository. */
  pushRepository: (service: ImageService) => pulumi.Input<string>;
  /** Where the nodes pull from (ECR: the same; ACR: the VPC domain). */
  pullRepository: (service: ImageService) => pulumi.Input<string>;
  /** Where the build cache of a service lives (a tag that moves with every build). */
  cacheRef: (service: ImageService) => pulumi.Input<string>;
  address: pulumi.Input<string>;
  username: pulumi.Input<string>;
  password: pulumi.Input<string>;
  /** What the push must wait for (the repositories). */
  ready: pulumi.Resource[];
}

export class ServiceImages extends pulumi.ComponentResource {
  /** Per service, the image a Deployment runs: <pull repository>:<tag>@<digest>. */
  readonly refs: Record<ImageService, pulumi.Output<string>>;

  constructor(name: string, args: ServiceImagesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:services:ServiceImages", name, {}, opts);
    const registry = args.cloud === "aws" ? this.ecr(name, args) : this.acr(name, args);
    const context = args.context ?? ".";
    const refs = {} as Record<ImageService, pulumi.Output<string>>;
    for (const service of IMAGE_SERVICES) {
      const repository = registry.pushRepository(service);
      const image = new dockerBuild.Image(
        `${name}-${service}`,
        {
          context: { location: context },
          dockerfile: { location: `${context}/services/${service}/Dockerfile` },
          platforms: [...args.platforms],
          push: true,
          buildOnPreview: false,
          tags: [pulumi.interpolate`${repository}:${args.tag}`],
          registries: [
            { address: registry.address, username: registry.username, password: pulumi.secret(registry.password) },
          ],
          // The first stages (npm ci) rarely change: reuse them from the registry across machines and CI runs.
          cacheFrom: [{ registry: { ref: registry.cacheRef(service) } }],
          cacheTo: [
            { registry: { ref: registry.cacheRef(service), mode: "max", imageManifest: true, ociMediaTypes: true } },
          ],
          labels: { "org.opencontainers.image.version": args.tag, "org.opencontainers.image.title": service },
        },
        { parent: this, dependsOn: registry.ready },
      );
      refs[service] = pulumi.interpolate`${registry.pullRepository(service)}:${args.tag}@${image.digest}`;
    }
    this.refs = refs;
    this.registerOutputs({ refs: this.refs });
  }

  private ecr(name: string, args: ServiceImagesArgs): Registry {
    const repos = {} as Record<ImageService, aws.ecr.Repository>;
    for (const service of IMAGE_SERVICES) {
      repos[service] = new aws.ecr.Repository(
        `${name}-${service}`,
        {
          // Repository names are per account and region: the stack's name keeps two stacks (aws-prod, multicloud)
          // in one account apart.
          name: `${pulumi.getStack()}/${service}`,
          // A release tag never moves (a rollback redeploys the old tag); only the build cache is rewritten.
          imageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
          imageTagMutabilityExclusionFilters: [{ filter: CACHE_TAG, filterType: "WILDCARD" }],
          imageScanningConfiguration: { scanOnPush: true },
          encryptionConfigurations: [{ encryptionType: "KMS" }],
          tags: args.tags,
        },
        { parent: this },
      );
      new aws.ecr.LifecyclePolicy(
        `${name}-${service}-retention`,
        {
          repository: repos[service].name,
          policy: JSON.stringify({
            rules: [
              {
                rulePriority: 1,
                description: "keep the last 50 images",
                selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 50 },
                action: { type: "expire" },
              },
            ],
          }),
        },
        { parent: this },
      );
    }
    const token = aws.ecr.getAuthorizationTokenOutput({ registryId: repos.gateway.registryId }, { parent: this });
    const url = (s: ImageService) => repos[s].repositoryUrl;
    return {
      pushRepository: url,
      pullRepository: url,
      cacheRef: (s) => pulumi.interpolate`${url(s)}:${CACHE_TAG}`,
      address: repos.gateway.repositoryUrl.apply((u) => u.split("/")[0] ?? u),
      username: token.userName,
      password: token.password,
      ready: Object.values(repos),
    };
  }

  private acr(name: string, args: ServiceImagesArgs): Registry {
    if (args.alicloudRegistryUser === undefined || args.vpc === undefined) {
      // The spec requires kubernetes.image.build.alicloudRegistryUser for an Alibaba Cloud build; this is a bug guard.
      throw new Error(`${name}: an Alibaba Cloud image build needs alicloudRegistryUser and the VPC`);
    }
    const password = new random.RandomPassword(
      `${name}-registry-password`,
      { length: 32, special: false, minLower: 2, minUpper: 2, minNumeric: 2 },
      { parent: this },
    );
    const instance = new alicloud.cr.RegistryEnterpriseInstance(
      `${name}-registry`,
      {
        // Instance names are per account (3-30 characters) and make the registry's domain.
        instanceName: acrInstanceName(pulumi.getStack()),
        instanceType: "Basic",
        paymentType: "Subscription",
        period: 1,
        renewalStatus: "AutoRenewal",
        renewPeriod: 1,
        password: password.result,
        tags: args.tags,
      },
      { parent: this, protect: true },
    );
    const namespace = new alicloud.cs.RegistryEnterpriseNamespace(
      `${name}-namespace`,
      { instanceId: instance.id, name: ACR_NAMESPACE, autoCreate: false, defaultVisibility: "PRIVATE" },
      { parent: this },
    );
    // Release tags never move; Enterprise Edition has no per-tag exclusion, so the build cache has its own repository.
    const repos = [...IMAGE_SERVICES, CACHE_REPOSITORY].map(
      (repo) =>
        new alicloud.cs.RegistryEnterpriseRepo(
          `${name}-${repo}`,
          {
            instanceId: instance.id,
            namespace: namespace.name,
            name: repo,
            repoType: "PRIVATE",
            summary: `IM platform ${repo}`,
            tagImmutability: repo !== CACHE_REPOSITORY,
          },
          { parent: this },
        ),
    );
    // The nodes pull over the VPC, never through the internet.
    const link = new alicloud.cr.VpcEndpointLinkedVpc(
      `${name}-vpc-endpoint`,
      {
        instanceId: instance.id,
        vpcId: args.vpc.vpcId,
        vswitchId: args.vpc.vswitchId,
        moduleName: "Registry",
        enableCreateDnsRecordInPvzt: true,
      },
      { parent: this },
    );
    const domain = (suffix: string) =>
      `${acrInstanceName(pulumi.getStack())}-registry${suffix}.${args.region}.cr.aliyuncs.com`;
    return {
      pushRepository: (s) => `${domain("")}/${ACR_NAMESPACE}/${s}`,
      pullRepository: (s) => `${domain("-vpc")}/${ACR_NAMESPACE}/${s}`,
      cacheRef: (s) => `${domain("")}/${ACR_NAMESPACE}/${CACHE_REPOSITORY}:${s}`,
      address: domain(""),
      username: args.alicloudRegistryUser,
      password: password.result,
      ready: [...repos, link],
    };
  }
}

/** The Container Registry instance of a stack: "<stack>-images", the stack name cut so the whole fits in 30. */
export function acrInstanceName(stack: string): string {
  return `${stack.slice(0, 23).replace(/-+$/, "")}-images`;
}
