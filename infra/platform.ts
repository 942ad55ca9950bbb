/**
 * The platform from a validated spec: per cloud, the network, the cluster, the traffic layer (Traefik serving a
 * Gateway API Gateway), the data tier and the IM services; with both clouds, the IPSec VPN between them.
 * `infra/index.ts` calls `deployPlatform` for the stack; the unit tests and `imctl plan` call it under mocks. Every
 * name here is fixed per cloud ("aws-network", "alicloud-services"), never derived from a setting that may change. A stack on an existing cluster (`cluster`
 * instead of `clouds`) goes to infra/cluster/existing-cluster.ts, which declares no cloud resource at all.
 */
import * as alicloud from "@pulumi/alicloud";
import * as aws from "@pulumi/aws";
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { AckCluster } from "./cluster/ack-cluster.ts";
import { CertManager } from "./cluster/cert-manager.ts";
import {
  deployExistingCluster,
  type ExistingClusterDeployment,
  type ExistingClusterOptions,
} from "./cluster/existing-cluster.ts";
import { EksAutoscaling } from "./cluster/eks-autoscaling.ts";
import { EksCluster } from "./cluster/eks-cluster.ts";
import { EncryptedStorage, STORAGE_CLASS } from "./cluster/encrypted-storage.ts";
import type { WorkloadIdentity } from "./cluster/workload-role.ts";
import { dataCredentials, type DataCredentials } from "./data/data-credentials.ts";
import { DatabaseSchema } from "./data/database-schema.ts";
import { DATA_NAMESPACE, DataTier } from "./data/data-tier.ts";
import { AwsLoadBalancerController } from "./gateway/aws-load-balancer-controller.ts";
import { EdgeTls, EDGE_TLS_SECRET } from "./gateway/edge-tls.ts";
import { GATEWAY_NAME, HTTP_LISTENER, HTTPS_LISTENER, PlatformGateway } from "./gateway/platform-gateway.ts";
import { TRAEFIK_WEB_PORT, TRAEFIK_WEBSECURE_PORT, TraefikGateway } from "./gateway/traefik.ts";
import { K6Operator } from "./loadtest/k6-operator.ts";
import { SCENARIOS } from "./loadtest/scenarios.ts";
import type { CloudName } from "./lib/regions.ts";
import { isExistingCluster, type CloudSpec, type KubernetesPlatformSpec } from "./lib/spec.ts";
import { Monitoring } from "./observability/monitoring.ts";
import { AlicloudNetwork } from "./network/alicloud-network.ts";
import { AwsNetwork } from "./network/aws-network.ts";
import { IpsecVpn } from "./network/ipsec-vpn.ts";
import { DATABASE_SECRET_NAME, ImServices } from "./services/im-services.ts";
import { ServiceImages, type ImageService } from "./services/service-images.ts";

interface NetworkFacts {
  /** The app VPC (cluster, nodes, load balancer). */
  vpcId: pulumi.Output<string>;
  /** The data VPC (managed Redis and Kafka), peered with the app VPC. */
  dataVpcId: pulumi.Output<string>;
  appCidr: string;
  dataVpcCidr: string;
  privateSubnetIds: pulumi.Output<string>[];
  dataSubnetIds: pulumi.Output<string>[];
  internalRouteTableIds: pulumi.Output<string>[];
  securityGroupIds: { lb: pulumi.Output<string>; app: pulumi.Output<string>; data: pulumi.Output<string> };
  /** Where the Alibaba Cloud VPN gateway goes (a public vSwitch); unused on AWS. */
  vpnSubnetId: pulumi.Output<string> | undefined;
  /** The public subnets / vSwitches with their zones: where the edge load balancer sits. */
  publicZones: { zone: string; subnetId: pulumi.Output<string> }[];
}

/** What the workloads need of a cluster. */
interface ClusterFacts {
  provider: k8s.Provider;
  identity: WorkloadIdentity;
  /** EKS: the cluster name (the load balancer controller's); ACK: the cluster id. */
  clusterName: pulumi.Input<string>;
  /** What provisions persistent volumes, when it is not built in (EKS's EBS CSI driver). */
  storageDriver?: pulumi.Resource;
}

export interface CloudDeployment {
  cloud: CloudName;
  network: NetworkFacts;
  services: ImServices;
  /** The Gateway the services' HTTPRoutes attach to (Traefik serves it). */
  gateway: PlatformGateway;
  data: DataTier;
}

export interface PlatformDeployment {
  clouds: Partial<Record<CloudName, CloudDeployment>>;
  vpn: IpsecVpn | undefined;
  /** The deployment onto an existing cluster (then `clouds` is empty). */
  cluster?: ExistingClusterDeployment | undefined;
}

/** Options of `deployPlatform`: the secret seed (else the config secret `secretSeed`), which every stack derives from. */
export type DeployOptions = ExistingClusterOptions;

export function deployPlatform(spec: KubernetesPlatformSpec, opts: DeployOptions = {}): PlatformDeployment {
  if (isExistingCluster(spec)) return { clouds: {}, vpn: undefined, cluster: deployExistingCluster(spec, opts) };
  const { aws: awsSpec, alicloud: aliSpec } = spec.clouds;
  const awsProvider = awsSpec === undefined ? undefined : new aws.Provider("aws", { region: awsSpec.region });
  const aliProvider = aliSpec === undefined ? undefined : new alicloud.Provider("alicloud", { region: aliSpec.region });
  const clouds: Partial<Record<CloudName, CloudDeployment>> = {};
  if (awsSpec !== undefined && awsProvider !== undefined) {
    const network = awsNetwork(spec, awsSpec, awsProvider);
    const cluster = new EksCluster(
      "aws-eks",
      {
        region: awsSpec.region,
        version: awsSpec.cluster.version,
        serviceCidr: awsSpec.cluster.serviceCidr,
        apiAccessCidrs: awsSpec.cluster.apiAccessCidrs,
        privateSubnetIds: network.privateSubnetIds,
        appSecurityGroupId: network.securityGroupIds.app,
        nodeGroups: awsSpec.cluster.nodeGroups,
        tags: spec.tags,
      },
      { providers: [awsProvider] },
    );
    // metrics-server for the HPAs and the Cluster Autoscaler for the node groups (ACK has both in AckCluster).
    new EksAutoscaling(
      "aws-autoscaling",
      {
        clusterName: cluster.clusterName,
        region: awsSpec.region,
        kubernetesVersion: awsSpec.cluster.version,
        identity: cluster.workloadIdentity,
        provider: cluster.provider,
        tags: spec.tags,
      },
      { providers: [awsProvider, cluster.provider] },
    );
    clouds.aws = workloads(
      spec,
      "aws",
      awsSpec,
      network,
      {
        provider: cluster.provider,
        identity: cluster.workloadIdentity,
        clusterName: cluster.clusterName,
        storageDriver: cluster.storageDriver,
      },
      [awsProvider],
      dataCredentials(opts.secretSeed),
    );
  }
  if (aliSpec !== undefined && aliProvider !== undefined) {
    const network = alicloudNetwork(spec, aliSpec, aliProvider);
    const cluster = new AckCluster(
      "alicloud-ack",
      {
        version: aliSpec.cluster.version,
        serviceCidr: aliSpec.cluster.serviceCidr,
        privateVswitchIds: network.privateSubnetIds,
        appSecurityGroupId: network.securityGroupIds.app,
        nodeGroups: aliSpec.cluster.nodeGroups,
        tags: spec.tags,
      },
      { providers: [aliProvider] },
    );
    clouds.alicloud = workloads(
      spec,
      "alicloud",
      aliSpec,
      network,
      { provider: cluster.provider, identity: cluster.workloadIdentity, clusterName: cluster.clusterId },
      [aliProvider],
      dataCredentials(opts.secretSeed),
    );
  }
  let vpn: IpsecVpn | undefined;
  const a = clouds.aws;
  const b = clouds.alicloud;
  if (
    spec.multicloud !== undefined &&
    a !== undefined &&
    b !== undefined &&
    awsProvider !== undefined &&
    aliProvider !== undefined &&
    b.network.vpnSubnetId !== undefined
  ) {
    const interconnect = spec.multicloud.interconnect;
    vpn = new IpsecVpn("multicloud-vpn", {
      // Only the app segments cross (each cloud runs its own data tier; a peering is not transitive either).
      aws: {
        vpcId: a.network.vpcId,
        cidrs: [a.network.appCidr],
        routeTableIds: a.network.internalRouteTableIds,
      },
      alicloud: {
        vpcId: b.network.vpcId,
        vswitchId: b.network.vpnSubnetId,
        // Dual-tunnel VPN gateways need a second vSwitch in another zone.
        disasterRecoveryVswitchId: b.network.publicZones[1]?.subnetId ?? b.network.vpnSubnetId,
        cidrs: [b.network.appCidr],
        routeTableIds: b.network.internalRouteTableIds,
      },
      ikeVersion: interconnect.ikeVersion,
      bandwidthMbps: interconnect.bandwidthMbps,
      tags: spec.tags,
      providers: { aws: awsProvider, alicloud: aliProvider },
    });
  }
  return { clouds, vpn };
}

function awsNetwork(spec: KubernetesPlatformSpec, c: CloudSpec, provider: aws.Provider): NetworkFacts {
  const n = new AwsNetwork(
    "aws-network",
    {
      region: c.region,
      zones: c.zones,
      appCidr: c.network.appCidr,
      dataCidr: c.network.dataCidr,
      natGateways: c.network.natGateways,
      tags: spec.tags,
    },
    { providers: [provider] },
  );
  return {
    vpcId: n.vpcId,
    dataVpcId: n.dataVpcId,
    appCidr: n.plan.appCidr,
    dataVpcCidr: n.plan.dataVpcCidr,
    privateSubnetIds: n.privateSubnetIds,
    dataSubnetIds: n.dataSubnetIds,
    internalRouteTableIds: n.internalRouteTableIds,
    securityGroupIds: n.securityGroupIds,
    vpnSubnetId: undefined,
    publicZones: n.plan.zones.map((z, i) => ({ zone: z.zone, subnetId: n.publicSubnetIds[i] ?? n.vpcId })),
  };
}

function alicloudNetwork(spec: KubernetesPlatformSpec, c: CloudSpec, provider: alicloud.Provider): NetworkFacts {
  const n = new AlicloudNetwork(
    "alicloud-network",
    {
      region: c.region,
      zones: c.zones,
      appCidr: c.network.appCidr,
      dataCidr: c.network.dataCidr,
      natGateways: c.network.natGateways,
      tags: spec.tags,
    },
    { providers: [provider] },
  );
  return {
    vpcId: n.vpcId,
    dataVpcId: n.dataVpcId,
    appCidr: n.plan.appCidr,
    dataVpcCidr: n.plan.dataVpcCidr,
    privateSubnetIds: n.privateVswitchIds,
    dataSubnetIds: n.dataVswitchIds,
    internalRouteTableIds: n.internalRouteTableIds,
    securityGroupIds: n.securityGroupIds,
    vpnSubnetId: n.publicVswitchIds[0],
    publicZones: n.plan.zones.map((z, i) => ({ zone: z.zone, subnetId: n.publicVswitchIds[i] ?? n.vpcId })),
  };
}

/** Everything inside one cloud's cluster: the Gateway API traffic layer, the data tier and the services. */
function workloads(
  spec: KubernetesPlatformSpec,
  cloud: CloudName,
  c: CloudSpec,
  network: NetworkFacts,
  cluster: ClusterFacts,
  cloudProviders: pulumi.ProviderResource[],
  credentials: DataCredentials,
): CloudDeployment {
  const k8sProvider = cluster.provider;
  // On EKS the AWS Load Balancer Controller builds Traefik's NLB: it must run before that Service exists.
  const lbController =
    cloud === "aws"
      ? new AwsLoadBalancerController(
          "aws-lb-controller",
          {
            clusterName: cluster.clusterName,
            region: c.region,
            vpcId: network.vpcId,
            identity: cluster.identity,
            provider: k8sProvider,
            tags: spec.tags,
          },
          { providers: [...cloudProviders, k8sProvider] },
        )
      : undefined;
  // The Gateway API implementation (ingress-nginx was retired in March 2026): the CRDs, Traefik, the GatewayClass.
  const traefik = new TraefikGateway(
    `${cloud}-traefik`,
    { cloud, lbSecurityGroupId: network.securityGroupIds.lb, publicZones: network.publicZones, provider: k8sProvider },
    { providers: [k8sProvider], dependsOn: lbController ? [lbController] : [] },
  );
  // Distributed load tests (TestRuns) run inside the cluster, against the platform's own edge.
  new K6Operator(`${cloud}-k6`, { scenarios: SCENARIOS, provider: k8sProvider }, { providers: [k8sProvider] });
  // Certificates for the data tier's TLS and the edge's; the edge's HTTP-01 solver is an HTTPRoute, so cert-manager
  // starts with its Gateway API support, after the Gateway API CRDs exist.
  const certManager = new CertManager(
    `${cloud}-cert-manager`,
    { gatewayApi: true, provider: k8sProvider },
    { providers: [k8sProvider], dependsOn: [traefik.crds] },
  );
  // Every claim of the data tier names this encrypted class.
  const storage = new EncryptedStorage(
    `${cloud}-storage`,
    { cloud, provider: k8sProvider },
    { providers: [k8sProvider], dependsOn: cluster.storageDriver ? [cluster.storageDriver] : [] },
  );
  const data = new DataTier(
    `${cloud}-data`,
    {
      cloud,
      region: c.region,
      zones: c.zones,
      choices: c.data,
      redis: spec.data.redis,
      kafka: spec.data.kafka,
      network: {
        vpcId: network.dataVpcId,
        appCidr: network.appCidr,
        dataSubnetIds: network.dataSubnetIds,
        dataSecurityGroupId: network.securityGroupIds.data,
      },
      identity: cluster.identity,
      certManager: { namespace: certManager.namespace, release: certManager.release },
      credentials,
      servicesNamespace: spec.kubernetes.namespace,
      provider: k8sProvider,
      tags: spec.tags,
    },
    { providers: [...cloudProviders, k8sProvider], dependsOn: [storage] },
  );
  const k = spec.kubernetes;
  const tls = k.ingress.tls;
  const gatewayListener = tls === undefined ? HTTP_LISTENER : HTTPS_LISTENER;
  const images = serviceImages(spec, cloud, c, network, cloudProviders);
  // The schema and the services' user, migrated with the message image before any Deployment rolls.
  const schema = new DatabaseSchema(
    `${cloud}-schema`,
    {
      namespace: DATA_NAMESPACE,
      databaseName: spec.data.database.name,
      host: data.tidb.host,
      port: data.tidb.port,
      image: images.message,
      rootSecret: data.tidb.rootSecret,
      tls: data.tidbTls === undefined ? undefined : { clientSecretName: data.tidbTls.clientSecretName },
      provider: k8sProvider,
    },
    { providers: [k8sProvider], dependsOn: [data.tidb] },
  );
  const services = new ImServices(
    `${cloud}-services`,
    {
      namespace: k.namespace,
      version: k.image.tag,
      images: { gateway: images.gateway, message: images.message, userCenter: images["user-center"] },
      replicas: {
        gateway: spec.services.gateway.replicas,
        message: spec.services.message.replicas,
        userCenter: spec.services.userCenter.replicas,
      },
      workloads: k.services,
      cpuUtilizationPercent: k.autoscaling.cpuUtilizationPercent,
      canaryWeight: k.canary.weight,
      drainSeconds: k.drainSeconds,
      zones: c.zones.length,
      ingress: k.ingress,
      // The services' routes attach to the HTTPS listener only (the HTTP one only redirects); without TLS, to HTTP.
      gateway: { name: GATEWAY_NAME, namespace: k.namespace, sectionName: gatewayListener },
      databaseName: spec.data.database.name,
      kafkaTopicStored: spec.data.kafka.topics[0]?.name ?? "im.message.stored",
      groupWriteDiffusionMax: spec.messaging.groupWriteDiffusionMax,
      groups: spec.messaging.groups,
      endpoints: data.endpoints,
      database: { user: schema.user, password: schema.password },
    },
    // The HTTPRoutes need the Gateway API CRDs; the Gateway they name may come after them.
    { providers: [k8sProvider], dependsOn: [schema, traefik.crds] },
  );
  // The Gateway lives in the services' namespace (its routes are accepted from there only), which ImServices creates.
  const gateway = new PlatformGateway(
    `${cloud}-gateway`,
    {
      namespace: services.namespace,
      className: traefik.className,
      port: TRAEFIK_WEB_PORT,
      https:
        tls === undefined
          ? undefined
          : { port: TRAEFIK_WEBSECURE_PORT, hostname: k.ingress.host, secretName: EDGE_TLS_SECRET },
      provider: k8sProvider,
    },
    { providers: [k8sProvider], dependsOn: [traefik] },
  );
  // The edge's certificate (ACME through cert-manager); the spec requires ingress.tls on a cloud stack.
  if (tls !== undefined)
    new EdgeTls(
      `${cloud}-edge-tls`,
      {
        acmeEmail: tls.acmeEmail,
        acmeServer: tls.acmeServer,
        host: k.ingress.host,
        namespace: services.namespace,
        provider: k8sProvider,
      },
      { providers: [k8sProvider], dependsOn: [certManager, gateway] },
    );
  // The alert rules the local target loads, the dashboards, and the scrapes that feed both, in this cluster.
  new Monitoring(
    `${cloud}-monitoring`,
    {
      tenant: { platform: spec.name, cloud, region: c.region },
      servicesNamespace: k.namespace,
      dataNamespace: DATA_NAMESPACE,
      endpoints: data.endpoints,
      kafkaInCluster: c.data.kafka.mode === "strimzi",
      secretName: DATABASE_SECRET_NAME,
      storageClass: STORAGE_CLASS,
      provider: k8sProvider,
    },
    { providers: [k8sProvider], dependsOn: [services, data] },
  );
  return { cloud, network, services, gateway, data };
}

/**
 * The image each service runs: built from services/<service>/Dockerfile and pushed to this cloud's registry
 * (kubernetes.image.build), or taken by tag from the registry the stack names (kubernetes.image.registry).
 */
function serviceImages(
  spec: KubernetesPlatformSpec,
  cloud: CloudName,
  c: CloudSpec,
  network: NetworkFacts,
  cloudProviders: pulumi.ProviderResource[],
): Record<ImageService, pulumi.Input<string>> {
  const image = spec.kubernetes.image;
  if (image.build === undefined) {
    const ref = (s: ImageService) => `${image.registry ?? ""}/${s}:${image.tag}`;
    return { gateway: ref("gateway"), message: ref("message"), "user-center": ref("user-center") };
  }
  const built = new ServiceImages(
    `${cloud}-images`,
    {
      cloud,
      region: c.region,
      tag: image.tag,
      platforms: image.build.platforms,
      alicloudRegistryUser: image.build.alicloudRegistryUser,
      vpc:
        network.privateSubnetIds[0] === undefined
          ? undefined
          : { vpcId: network.vpcId, vswitchId: network.privateSubnetIds[0] },
      tags: spec.tags,
    },
    { providers: cloudProviders },
  );
  return built.refs;
}
