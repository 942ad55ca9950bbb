/**
 * The one Pulumi mocks helper: runs a program under `pulumi.runtime.setMocks`, records every resource it declares
 * (type, name, inputs, layer), answers the few provider functions the program calls, and throws on any other call
 * so that a new data source cannot slip in unnoticed. The unit tests and `imctl plan` both use it.
 *
 * Outputs the providers would compute (ids, ARNs, a VPN's tunnel addresses, a cluster's endpoint) are filled with
 * deterministic stand-ins from documentation address ranges (RFC 5737), so `apply` chains run as they would.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

export interface RecordedResource {
  type: string;
  name: string;
  /** The inputs as the program passed them (Outputs resolved, secrets unwrapped: never print these). */
  inputs: Record<string, unknown>;
  /** Paths of the inputs that were secrets (e.g. "ikeConfig"). */
  secretPaths: string[];
  /** The id the mocks assigned (custom resources only). */
  id: string | undefined;
  /** False for component resources. */
  custom: boolean;
  /** `network`, `cluster`, `data`, `services`, ... from the nearest `im:<layer>:` component; `stack` at the top. */
  layer: string;
  /** Type of the parent resource, when it has one. */
  parentType: string | undefined;
}

type CallHandler = (inputs: Record<string, unknown>) => Record<string, unknown>;

/** The provider functions the program may call, with what they return under mocks. */
const CALLS: Record<string, CallHandler> = {
  // ECR's short-lived docker login, for pushing the services' images.
  "aws:ecr/getAuthorizationToken:getAuthorizationToken": (inputs) => ({
    id: String(inputs.registryId ?? MOCK_ACCOUNT),
    registryId: String(inputs.registryId ?? MOCK_ACCOUNT),
    authorizationToken: "QVdTOm1vY2stZWNyLXRva2Vu",
    userName: "AWS",
    password: "mock-ecr-token",
    proxyEndpoint: `https://${MOCK_ACCOUNT}.dkr.ecr.mock-region.amazonaws.com`,
    expiresAt: "2099-01-01T00:00:00Z",
  }),
  // The versions ACK offers, as cs.getKubernetesVersion lists them (two patches of 1.31, so the newest is picked).
  "alicloud:cs/getKubernetesVersion:getKubernetesVersion": (inputs) => ({
    id: "ManagedKubernetes",
    clusterType: String(inputs.clusterType),
    metadatas: ["1.30.7-aliyun.1", "1.31.1-aliyun.1", "1.31.9-aliyun.1", "1.32.1-aliyun.1"].map((version) => ({
      version,
      releaseDate: "2099-01-01",
      expiredDate: "2099-12-31",
      upgradeableVersions: [],
      runtimes: [],
    })),
  }),
  "alicloud:cs/getClusterCredential:getClusterCredential": (inputs) => ({
    id: String(inputs.clusterId),
    clusterId: String(inputs.clusterId),
    clusterName: "mock",
    expiration: "2099-01-01T00:00:00Z",
    kubeConfig: "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
    certificateAuthority: { clientCert: "", clientKey: "", clusterCert: "" },
  }),
};

/** The AWS account id the mocks pretend to run in. */
const MOCK_ACCOUNT = "000000000000";

let ipCounter = 0;
const docIp = (range: "198.51.100" | "203.0.113") => `${range}.${(ipCounter++ % 250) + 1}`;

/** Outputs that the program reads and that a provider would compute, per resource type. */
const COMPUTED: Record<string, (name: string, inputs: Record<string, unknown>) => Record<string, unknown>> = {
  "alicloud:vpn/gateway:Gateway": () => ({
    internetIp: docIp("198.51.100"),
    disasterRecoveryInternetIp: docIp("198.51.100"),
  }),
  "aws:ec2/vpnConnection:VpnConnection": (name) => ({
    tunnel1Address: docIp("203.0.113"),
    tunnel2Address: docIp("203.0.113"),
    tunnel1PresharedKey: `${name}-psk-1`,
    tunnel2PresharedKey: `${name}-psk-2`,
  }),
  "aws:eks/cluster:Cluster": (name) => ({
    endpoint: `https://${name}.eks.mock`,
    certificateAuthority: { data: "bW9jaw==" },
    vpcConfig: { clusterSecurityGroupId: `${name}-cluster-sg` },
    identities: [{ oidcs: [{ issuer: `https://oidc.eks.mock-region.amazonaws.com/id/${name.toUpperCase()}` }] }],
  }),
  "alicloud:cs/managedKubernetes:ManagedKubernetes": (name) => ({
    rrsaMetadata: {
      enabled: true,
      ramOidcProviderArn: `acs:ram::1000000000000000:oidc-provider/ack-rrsa-${name}`,
      ramOidcProviderName: `ack-rrsa-${name}`,
      rrsaOidcIssuerUrl: `https://oidc-ack-mock.aliyuncs.com/${name}`,
    },
  }),
  "alicloud:vpc/natGateway:NatGateway": (name) => ({ snatTableIds: `${name}-snat` }),
  // Bootstrap lists per listener: the services must get the one of the client authentication the cluster uses.
  "aws:msk/cluster:Cluster": (name) => ({
    bootstrapBrokersTls: `b-1.${name}.mock:9094,b-2.${name}.mock:9094`,
    bootstrapBrokersSaslScram: `b-1.${name}.mock:9096,b-2.${name}.mock:9096`,
  }),
  "alicloud:alikafka/instance:Instance": (name) => ({
    endPoint: `${name}.alikafka.mock:9092`,
    saslDomainEndpoint: `${name}.alikafka.mock:9094`,
  }),
  "alicloud:ecs/eipAddress:EipAddress": () => ({ ipAddress: docIp("198.51.100") }),
  // The key's secret is an output only (no PGP key given): a mock value that names the key.
  "alicloud:ram/accessKey:AccessKey": (name) => ({ secret: `mock-access-key-secret-${name}` }),
  "aws:ecr/repository:Repository": (_name, inputs) => ({
    registryId: MOCK_ACCOUNT,
    repositoryUrl: `${MOCK_ACCOUNT}.dkr.ecr.mock-region.amazonaws.com/${String(inputs.name)}`,
  }),
  // A digest that depends on what was built and pushed where, so two images never share one.
  "docker-build:index:Image": (name, inputs) => {
    const digest = `sha256:${createHash("sha256")
      .update(`${name}${JSON.stringify(inputs.tags)}`)
      .digest("hex")}`;
    const tags = Array.isArray(inputs.tags) ? inputs.tags.map(String) : [];
    return { digest, ref: tags[0] === undefined ? "" : `${tags[0]}@${digest}` };
  },
  "random:index/randomPassword:RandomPassword": (name) => ({ result: `mock-password-${name}` }),
};

export class RecordingMocks implements pulumi.runtime.Mocks {
  readonly resources: RecordedResource[] = [];
  private readonly seen = new Set<string>();

  newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    const key = `${args.type}::${args.name}`;
    // Pulumi's URN holds only the direct parent's type: two resources of one type and name would collide.
    if (this.seen.has(key)) throw new Error(`duplicate resource ${key}: give it a name unique within its type`);
    this.seen.add(key);
    const inputs = (args.inputs ?? {}) as Record<string, unknown>;
    const secretPaths: string[] = [];
    const plain = unwrapSecrets(inputs, "", secretPaths) as Record<string, unknown>;
    const id = args.custom === false ? undefined : `${args.name}-id`;
    this.resources.push({
      type: args.type,
      name: args.name,
      inputs: plain,
      secretPaths,
      id,
      custom: args.custom ?? true,
      layer: "stack",
      parentType: undefined,
    });
    const computed = COMPUTED[args.type]?.(args.name, inputs) ?? {};
    // Computed outputs land on top of the inputs, merged into nested objects (an EKS cluster's vpcConfig keeps its
    // subnetIds and gains the clusterSecurityGroupId the service would assign).
    return {
      id,
      state: {
        ...deepMerge(inputs, computed),
        arn: `arn:mock:${args.type}:${args.name}`,
        name: inputs.name ?? args.name,
      },
    };
  }

  call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
    const handler = CALLS[args.token];
    if (handler === undefined)
      throw new Error(
        `unexpected provider call ${args.token}: declare it in infra/mocks.ts if the program really needs it`,
      );
    return handler((args.inputs ?? {}) as Record<string, unknown>);
  }
}

/** What a program declared, once every registration has settled. */
export interface MockRun<T> {
  result: T;
  resources: RecordedResource[];
}

/**
 * Run `program` under fresh mocks as stack `stack` and wait until every resource is registered. Layers come from
 * the URNs the mock monitor assigns (each names the parent's type).
 */
const MOCK_SEED_KEY = "secretSeed";
/** The seed a mocked run derives from when the caller passes none. */
export const MOCK_SECRET_SEED = "mocked-run-seed-not-a-secret-0123456789";

export async function runWithMocks<T>(stack: string, program: () => T | Promise<T>): Promise<MockRun<T>> {
  const mocks = new RecordingMocks();
  await pulumi.runtime.setMocks(mocks, "im-platform", stack, false);
  // The stacks derive their credentials from the config secret secretSeed when no seed is passed: under mocks a fixed
  // one stands in for it (nothing here reaches a cloud, and the values are not secrets).
  if (pulumi.runtime.getConfig(`im-platform:${MOCK_SEED_KEY}`) === undefined)
    pulumi.runtime.setConfig(`im-platform:${MOCK_SEED_KEY}`, MOCK_SECRET_SEED);
  const monitor = pulumi.runtime.getMonitor();
  const result = await program();
  // Outputs settle through promise chains that register more resources: wait until the RPC queue stays empty.
  await pulumi.runtime.disconnect();
  const parents = parentTypes(monitor);
  for (const r of mocks.resources) {
    const parentType = parents.get(`${r.type}::${r.name}`);
    r.parentType = parentType;
    r.layer = layerFromType(r.custom ? undefined : r.type) ?? layerFromType(parentType) ?? "stack";
  }
  return { result, resources: mocks.resources };
}

function layerFromType(type: string | undefined): string | undefined {
  const m = /^im:([a-z]+):/.exec(type ?? "");
  return m?.[1];
}

/** `type::name` -> the parent's type, read from the mock monitor's URNs (`...::parentType$type::name`). */
function parentTypes(monitor: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const urns = (monitor as { resources?: Map<string, unknown> } | undefined)?.resources?.keys() ?? [];
  for (const urn of urns) {
    const parts = urn.split("::");
    const qualified = parts[2] ?? "";
    const name = parts.slice(3).join("::");
    const chain = qualified.split("$");
    const type = chain[chain.length - 1] ?? "";
    const parent = chain.length > 1 ? chain[chain.length - 2] : undefined;
    if (parent !== undefined) out.set(`${type}::${name}`, parent);
  }
  return out;
}

function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    const b = out[k];
    const bothObjects =
      b !== null &&
      typeof b === "object" &&
      !Array.isArray(b) &&
      v !== null &&
      typeof v === "object" &&
      !Array.isArray(v);
    out[k] = bothObjects ? deepMerge(b as Record<string, unknown>, v as Record<string, unknown>) : (b ?? v);
  }
  return out;
}

/** Replace Pulumi's secret envelopes by their values, noting where they were. */
function unwrapSecrets(value: unknown, path: string, found: string[]): unknown {
  if (Array.isArray(value)) return value.map((v, i) => unwrapSecrets(v, `${path}.${i}`, found));
  if (value === null || typeof value !== "object") return value;
  const obj = value as Record<string, unknown>;
  if (obj[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) {
    found.push(path.replace(/^\./, ""));
    return unwrapSecrets(obj.value, path, []);
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, unwrapSecrets(v, `${path}.${k}`, found)]));
}

/** Every recorded resource of one type. */
export function ofType(resources: readonly RecordedResource[], type: string): RecordedResource[] {
  return resources.filter((r) => r.type === type);
}

/** The one resource with this type and name; throws with the names that exist when it is missing. */
export function one(resources: readonly RecordedResource[], type: string, name: string): RecordedResource {
  const found = resources.find((r) => r.type === type && r.name === name);
  if (found === undefined) {
    const names = ofType(resources, type).map((r) => r.name);
    throw new Error(`no ${type} named ${name}; there are: ${names.join(", ") || "none"}`);
  }
  return found;
}
