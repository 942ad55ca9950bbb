import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { REPO_ROOT } from "../base/root.mjs";
import { REQUIRED_TAGS } from "./lib/spec-cloud.ts";
import type * as Program from "./index.ts";
import { loadSpec, requireKubernetes, type KubernetesPlatformSpec } from "./lib/spec.ts";
import { IpsecVpn, VpnOverlapError } from "./network/ipsec-vpn.ts";
import { deployPlatform } from "./platform.ts";
import { ofType, one, runWithMocks, type RecordedResource } from "./mocks.ts";

const stack = (name: string): KubernetesPlatformSpec =>
  requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", `${name}.yaml`)), name);
const run = async (spec: KubernetesPlatformSpec) =>
  (await runWithMocks(spec.name, () => deployPlatform(spec))).resources;
const T = {
  vpc: "aws:ec2/vpc:Vpc",
  subnet: "aws:ec2/subnet:Subnet",
  nat: "aws:ec2/natGateway:NatGateway",
  sgIn: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  deployment: "kubernetes:apps/v1:Deployment",
  hpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
  pdb: "kubernetes:policy/v1:PodDisruptionBudget",
  ingress: "kubernetes:networking.k8s.io/v1:Ingress",
  gateway: "kubernetes:gateway.networking.k8s.io/v1:Gateway",
  route: "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
  release: "kubernetes:helm.sh/v3:Release",
  aliSwitch: "alicloud:vpc/switch:Switch",
  aliRule: "alicloud:ecs/securityGroupRule:SecurityGroupRule",
} as const;
const input = (r: RecordedResource, path: string): any => path.split(".").reduce<any>((v, k) => v?.[k], r.inputs);
const deploymentOf = (rs: RecordedResource[], cloud: string, svc: string, track: string) =>
  one(rs, T.deployment, `${cloud}-services-${svc}-${track}`);

describe("platform on AWS (stacks/aws-prod.yaml)", () => {
  let rs: RecordedResource[];
  before(async () => {
    rs = await run(stack("aws-prod"));
  });

  it("builds an app VPC and a data VPC (never a cross-range secondary block) joined by a peering", () => {
    const app = one(rs, T.vpc, "aws-network-vpc");
    const data = one(rs, T.vpc, "aws-network-data-vpc");
    assert.equal(input(app, "cidrBlock"), "10.0.0.0/16");
    assert.equal(input(data, "cidrBlock"), "172.16.0.0/16");
    assert.equal(ofType(rs, "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation").length, 0);
    const peering = one(rs, "aws:ec2/vpcPeeringConnection:VpcPeeringConnection", "aws-network-app-data");
    assert.equal(input(peering, "vpcId"), app.id);
    assert.equal(input(peering, "peerVpcId"), data.id);
    assert.equal(input(peering, "autoAccept"), true);
    // Each subnet lies in its tier's VPC.
    for (const s of ofType(rs, T.subnet))
      assert.equal(input(s, "vpcId"), input(s, "tags.tier") === "data" ? data.id : app.id, s.name);
  });

  it("routes the app segment and the data VPC to each other over the peering, and the data VPC nowhere else", () => {
    const routes = ofType(rs, "aws:ec2/route:Route");
    const peered = routes.filter((r) => input(r, "vpcPeeringConnectionId") !== undefined);
    assert.deepEqual(peered.map((r) => [r.name, input(r, "destinationCidrBlock")]).sort(), [
      ["aws-network-data-to-app-1", "10.0.0.0/16"],
      ["aws-network-data-to-app-2", "10.0.0.0/16"],
      ["aws-network-data-to-app-3", "10.0.0.0/16"],
      ["aws-network-private-to-data-1", "172.16.0.0/16"],
      ["aws-network-private-to-data-2", "172.16.0.0/16"],
      ["aws-network-private-to-data-3", "172.16.0.0/16"],
    ]);
    const dataTables = new Set(
      ofType(rs, "aws:ec2/routeTable:RouteTable")
        .filter((t) => input(t, "tags.tier") === "data")
        .map((t) => t.id),
    );
    assert.equal(dataTables.size, 3);
    const fromData = routes.filter((r) => dataTables.has(input(r, "routeTableId")));
    assert.deepEqual(
      fromData.map((r) => input(r, "destinationCidrBlock")),
      ["10.0.0.0/16", "10.0.0.0/16", "10.0.0.0/16"],
      "no default route: the data VPC has no internet path",
    );
    const dataGroup = one(rs, "aws:ec2/securityGroup:SecurityGroup", "aws-network-data");
    assert.equal(input(dataGroup, "vpcId"), one(rs, T.vpc, "aws-network-data-vpc").id);
  });

  it("puts public, private and data subnets in each of the three zones, none handing out public addresses", () => {
    const subnets = ofType(rs, T.subnet);
    assert.equal(subnets.length, 9);
    const byTier = (tier: string) =>
      subnets
        .filter((s) => input(s, "tags.tier") === tier)
        .map((s) => [input(s, "availabilityZone"), input(s, "cidrBlock")]);
    assert.deepEqual(byTier("private"), [
      ["us-east-1a", "10.0.0.0/18"],
      ["us-east-1b", "10.0.64.0/18"],
      ["us-east-1c", "10.0.128.0/18"],
    ]);
    assert.deepEqual(byTier("public"), [
      ["us-east-1a", "10.0.192.0/20"],
      ["us-east-1b", "10.0.208.0/20"],
      ["us-east-1c", "10.0.224.0/20"],
    ]);
    assert.deepEqual(byTier("data"), [
      ["us-east-1a", "172.16.0.0/18"],
      ["us-east-1b", "172.16.64.0/18"],
      ["us-east-1c", "172.16.128.0/18"],
    ]);
    assert.ok(subnets.every((s) => input(s, "mapPublicIpOnLaunch") === false));
    assert.equal(ofType(rs, T.nat).length, 3, "a NAT gateway per zone");
  });

  it("lets the data tier accept only the app segment, and the internet reach only the LB listeners", () => {
    const rules = ofType(rs, T.sgIn);
    const data = rules.filter((r) => r.name.startsWith("aws-network-data-"));
    const dataCidrs = new Set(data.map((r) => input(r, "cidrIpv4")).filter(Boolean));
    assert.deepEqual([...dataCidrs], ["10.0.0.0/16"]);
    assert.deepEqual(data.map((r) => [input(r, "fromPort"), input(r, "toPort")]).slice(0, 3), [
      [4000, 4000],
      [6379, 6379],
      [9092, 9098],
    ]);
    const world = rules.filter((r) => input(r, "cidrIpv4") === "0.0.0.0/0");
    assert.deepEqual(
      world.map((r) => [r.name, input(r, "fromPort")]),
      [
        ["aws-network-lb-https-from-internet", 443],
        ["aws-network-lb-http-from-internet", 80],
      ],
    );
  });

  it("runs EKS with its Service range outside both segments, encrypted secrets and sized node groups", () => {
    const cluster = one(rs, "aws:eks/cluster:Cluster", "aws-eks");
    assert.equal(input(cluster, "kubernetesNetworkConfig.serviceIpv4Cidr"), "10.100.0.0/16");
    assert.deepEqual(input(cluster, "encryptionConfig.resources"), ["secrets"]);
    const app = one(rs, "aws:eks/nodeGroup:NodeGroup", "aws-eks-app");
    assert.deepEqual(input(app, "scalingConfig"), { minSize: 3, desiredSize: 6, maxSize: 12 });
    const data = one(rs, "aws:eks/nodeGroup:NodeGroup", "aws-eks-data");
    assert.deepEqual(input(data, "taints"), [{ key: "im/tier", value: "data", effect: "NO_SCHEDULE" }]);
    // Data nodes live in the app VPC (EKS nodes must be in the cluster's VPC): the cluster's group (kubelet access
    // from the control plane) and the app group, which is in that VPC.
    const template = one(rs, "aws:ec2/launchTemplate:LaunchTemplate", "aws-eks-data");
    assert.deepEqual(input(template, "vpcSecurityGroupIds"), ["aws-eks-cluster-sg", "aws-network-app-id"]);
    assert.deepEqual(input(data, "subnetIds"), input(app, "subnetIds"));
    assert.equal(input(template, "metadataOptions.httpTokens"), "required");
  });

  it("runs the seed's replicas on the stable track and none on the canary at weight 0", () => {
    const replicas = (svc: string, track: string) => input(deploymentOf(rs, "aws", svc, track), "spec.replicas");
    assert.deepEqual(
      ["gateway", "message", "user-center"].map((s) => replicas(s, "stable")),
      [3, 6, 4],
    );
    assert.deepEqual(
      ["gateway", "message", "user-center"].map((s) => replicas(s, "canary")),
      [0, 0, 0],
    );
  });

  it("scales each service out at 80 % CPU from its floor to its ceiling, and budgets disruptions", () => {
    const hpa = (svc: string) => one(rs, T.hpa, `aws-services-${svc}-hpa`);
    for (const [svc, min, max] of [
      ["gateway", 3, 9],
      ["message", 6, 18],
      ["user-center", 4, 12],
    ] as const) {
      assert.equal(input(hpa(svc), "spec.minReplicas"), min);
      assert.equal(input(hpa(svc), "spec.maxReplicas"), max);
      assert.equal(input(hpa(svc), "spec.metrics.0.resource.target.averageUtilization"), 80);
      assert.equal(input(hpa(svc), "spec.scaleTargetRef.name"), `${svc}-stable`);
    }
    assert.equal(input(one(rs, T.pdb, "aws-services-message-pdb"), "spec.maxUnavailable"), 2);
    assert.equal(input(one(rs, T.pdb, "aws-services-gateway-pdb"), "spec.maxUnavailable"), 1);
  });

  it("spreads pods over zones, probes readiness and pauses before the gateway's drain", () => {
    const gw = deploymentOf(rs, "aws", "gateway", "stable");
    const pod = input(gw, "spec.template.spec");
    assert.equal(pod.topologySpreadConstraints[0].topologyKey, "topology.kubernetes.io/zone");
    assert.equal(pod.topologySpreadConstraints[0].maxSkew, 1);
    assert.equal(
      pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey,
      "topology.kubernetes.io/zone",
    );
    const c = pod.containers[0];
    assert.equal(c.readinessProbe.httpGet.path, "/readyz");
    assert.deepEqual(c.lifecycle.preStop, { sleep: { seconds: 5 } });
    assert.equal(c.env.find((e: any) => e.name === "DRAIN_SECONDS").value, "60");
    assert.equal(pod.terminationGracePeriodSeconds, 75, "preStop 5 + drain 60 + 10");
    assert.match(
      c.image,
      /^000000000000\.dkr\.ecr\.mock-region\.amazonaws\.com\/aws-prod\/gateway:0\.1\.0@sha256:[0-9a-f]{64}$/,
      "the pushed image, by digest",
    );
    assert.deepEqual(c.env.find((e: any) => e.name === "INTERNAL_TOKEN").valueFrom, {
      secretKeyRef: { name: "im-platform-secrets", key: "INTERNAL_TOKEN" },
    });
  });

  it("routes /ws and /v1 through HTTPRoutes on the Gateway's HTTPS listener, split between stable and canary", () => {
    const gw = one(rs, T.gateway, "aws-gateway-gateway");
    assert.equal(input(gw, "metadata.name"), "im-gateway");
    assert.equal(input(gw, "spec.gatewayClassName"), "im-gateway");
    for (const [svc, path] of [
      ["gateway", "/ws"],
      ["user-center", "/v1"],
    ] as const) {
      const route = one(rs, T.route, `aws-services-${svc}-route`);
      assert.equal(input(route, "metadata.name"), svc);
      assert.deepEqual(input(route, "spec.parentRefs"), [
        { name: "im-gateway", namespace: "im", sectionName: "https" },
      ]);
      assert.deepEqual(input(route, "spec.hostnames"), ["im.example.com"]);
      assert.deepEqual(input(route, "spec.rules.0.matches"), [{ path: { type: "PathPrefix", value: path } }]);
      assert.deepEqual(input(route, "spec.rules.0.backendRefs"), [
        { name: svc, port: 8080, weight: 100 },
        { name: `${svc}-canary`, port: 8080, weight: 0 },
      ]);
    }
    assert.equal(ofType(rs, T.route).filter((r) => r.name.includes("-message-")).length, 0, "message is internal");
    assert.equal(ofType(rs, T.ingress).length, 0, "no Ingress: nothing would serve it");
  });

  it("installs Traefik v3.6 (pinned chart) for the Gateway API: CRDs, GatewayClass, HA, WebSocket-safe", () => {
    const releases = ofType(rs, T.release);
    assert.equal(releases.filter((r) => input(r, "chart") === "ingress-nginx").length, 0, "ingress-nginx is retired");
    const traefik = one(rs, T.release, "aws-traefik");
    assert.equal(input(traefik, "chart"), "traefik");
    assert.equal(input(traefik, "version"), "39.0.7");
    assert.equal(input(traefik, "repositoryOpts.repo"), "https://traefik.github.io/charts");
    assert.equal(input(traefik, "values.image.tag"), "v3.6.12");
    assert.equal(input(traefik, "skipCrds"), true, "the Gateway API CRDs come from their own release");
    const crds = one(rs, "kubernetes:yaml/v2:ConfigFile", "aws-traefik-gateway-api-crds");
    assert.equal(
      input(crds, "file"),
      "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.4.0/standard-install.yaml",
    );
    const v = input(traefik, "values");
    assert.equal(v.providers.kubernetesGateway.enabled, true);
    assert.equal(v.providers.kubernetesIngress.enabled, false);
    assert.deepEqual(
      v.logs,
      { access: { enabled: false } },
      "no access log: a URL (and a token in it) never lands there",
    );
    assert.ok(v.deployment.replicas >= 2);
    assert.deepEqual(v.podDisruptionBudget, { enabled: true, maxUnavailable: 1 });
    assert.equal(v.topologySpreadConstraints[0].topologyKey, "topology.kubernetes.io/zone");
    assert.equal(v.podSecurityContext.runAsNonRoot, true);
    assert.deepEqual(v.securityContext.capabilities, { drop: ["ALL"] });
    for (const ep of ["web", "websecure"]) {
      const t = v.ports[ep].transport.respondingTimeouts;
      assert.deepEqual([t.readTimeout, t.writeTimeout], ["0s", "0s"], `${ep}: WebSocket sessions last hours`);
    }
    // The Gateway's listeners are Traefik's entry points (Traefik matches them by port).
    const gw = one(rs, T.gateway, "aws-gateway-gateway");
    assert.deepEqual(
      input(gw, "spec.listeners").map((l: { name: string; port: number }) => [l.name, l.port]),
      [
        ["http", v.ports.web.port],
        ["https", v.ports.websecure.port],
      ],
    );
    const cls = one(rs, "kubernetes:gateway.networking.k8s.io/v1:GatewayClass", "aws-traefik-class");
    assert.equal(input(cls, "metadata.name"), "im-gateway");
    assert.equal(input(cls, "spec.controllerName"), "traefik.io/gateway-controller");
    // The NLB comes from the AWS Load Balancer Controller, with IP targets, behind the lb security group.
    const a = v.service.annotations;
    assert.equal(v.service.type, "LoadBalancer");
    assert.equal(a["service.beta.kubernetes.io/aws-load-balancer-type"], "external");
    assert.equal(a["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"], "ip");
    assert.equal(
      a["service.beta.kubernetes.io/aws-load-balancer-security-groups"],
      one(rs, "aws:ec2/securityGroup:SecurityGroup", "aws-network-lb").id,
    );
  });

  it("makes the autoscalers act: metrics-server for the HPAs, the Cluster Autoscaler on the node groups", () => {
    const releases = ofType(rs, "kubernetes:helm.sh/v3:Release");
    const metrics = releases.find((r) => input(r, "chart") === "metrics-server");
    assert.ok(metrics, "EKS installs no metrics pipeline: without it every HPA reads <unknown>");
    const ca = releases.find((r) => input(r, "chart") === "cluster-autoscaler");
    assert.ok(ca);
    assert.equal(input(ca, "values.image.tag"), "v1.31.0", "the autoscaler's minor follows the cluster's");
    assert.equal(input(ca, "values.autoDiscovery.clusterName"), "aws-eks");
    const sa = input(ca, "values.rbac.serviceAccount");
    assert.equal(sa.name, "cluster-autoscaler");
    assert.match(sa.annotations["eks.amazonaws.com/role-arn"], /aws-autoscaling-cluster-autoscaler/);
    const policy = ofType(rs, "aws:iam/rolePolicy:RolePolicy").find((p) =>
      p.name.startsWith("aws-autoscaling-cluster-autoscaler"),
    );
    assert.ok(policy);
    const scale = JSON.parse(input(policy, "policy")).Statement.find((x: any) =>
      x.Action.includes("autoscaling:SetDesiredCapacity"),
    );
    assert.deepEqual(scale.Condition, {
      StringEquals: { "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true" },
    });
  });

  it("serves the edge over TLS only: an ACME ClusterIssuer, the host's certificate, HTTP redirected to HTTPS", () => {
    const issuer = one(rs, "kubernetes:cert-manager.io/v1:ClusterIssuer", "aws-edge-tls-issuer");
    assert.equal(input(issuer, "spec.acme.server"), "https://acme-v02.api.letsencrypt.org/directory");
    assert.equal(input(issuer, "spec.acme.email"), "ops@example.com");
    assert.deepEqual(input(issuer, "spec.acme.solvers.0.http01.gatewayHTTPRoute.parentRefs"), [
      { kind: "Gateway", name: "im-gateway", namespace: "im", sectionName: "http" },
    ]);
    const cm = one(rs, T.release, "aws-cert-manager");
    assert.equal(input(cm, "values.config.enableGatewayAPI"), true, "the HTTPRoute solver needs it");
    const cert = one(rs, "kubernetes:cert-manager.io/v1:Certificate", "aws-edge-tls-certificate");
    assert.deepEqual(input(cert, "spec.dnsNames"), ["im.example.com"]);
    assert.equal(input(cert, "metadata.name"), "im-edge", "not ingress-shim's name for the former Ingresses' one");
    assert.equal(input(cert, "spec.secretName"), "im-edge-tls");
    assert.equal(input(cert, "metadata.namespace"), "im");
    const https = input(one(rs, T.gateway, "aws-gateway-gateway"), "spec.listeners.1");
    assert.equal(https.protocol, "HTTPS");
    assert.equal(https.hostname, "im.example.com");
    assert.deepEqual(https.tls, { mode: "Terminate", certificateRefs: [{ kind: "Secret", name: "im-edge-tls" }] });
    const redirect = one(rs, T.route, "aws-gateway-https-redirect");
    assert.deepEqual(input(redirect, "spec.parentRefs"), [{ name: "im-gateway", sectionName: "http" }]);
    assert.deepEqual(input(redirect, "spec.rules"), [
      { filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } }] },
    ]);
  });

  it("provisions the data tier: 3 Redis shards with a replica each, 3 Kafka brokers, TiDB 3/3/3, a private bucket", () => {
    const redis = one(rs, "aws:elasticache/replicationGroup:ReplicationGroup", "aws-data-redis");
    assert.deepEqual(
      [input(redis, "numNodeGroups"), input(redis, "replicasPerNodeGroup"), input(redis, "transitEncryptionEnabled")],
      [3, 1, true],
    );
    const kafka = one(rs, "aws:msk/cluster:Cluster", "aws-data-kafka");
    assert.equal(input(kafka, "numberOfBrokerNodes"), 3);
    assert.match(
      input(one(rs, "aws:msk/configuration:Configuration", "aws-data-kafka-config"), "serverProperties"),
      /min\.insync\.replicas=2/,
    );
    const tidb = one(rs, "kubernetes:pingcap.com/v1alpha1:TidbCluster", "aws-data-tidb");
    assert.deepEqual(
      [input(tidb, "spec.pd.replicas"), input(tidb, "spec.tikv.replicas"), input(tidb, "spec.tidb.replicas")],
      [3, 3, 3],
    );
    const block = one(rs, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "aws-data-backup-private");
    assert.equal(input(block, "restrictPublicBuckets"), true);
    const env = input(deploymentOf(rs, "aws", "message", "stable"), "spec.template.spec.containers.0.env");
    assert.equal(env.find((e: any) => e.name === "DB_HOST").value, "im-tidb.im-data.svc");
  });

  it("tags every AWS resource that takes tags with the required tags", () => {
    const tagged = rs.filter((r) => r.type.startsWith("aws:") && r.inputs.tags !== undefined);
    assert.ok(tagged.length > 30);
    for (const r of tagged)
      for (const key of REQUIRED_TAGS)
        assert.ok((r.inputs.tags as Record<string, string>)[key], `${r.type} ${r.name} lacks ${key}`);
  });

  it("groups every resource under a layer", () => {
    const layers = new Set(rs.map((r) => r.layer));
    assert.deepEqual([...layers].sort(), [
      "cluster",
      "data",
      "gateway",
      "loadtest",
      "network",
      "observability",
      "services",
      "stack",
    ]);
    assert.deepEqual(
      rs.filter((r) => r.layer === "stack").map((r) => r.type),
      ["pulumi:providers:aws"],
    );
  });
});

describe("platform on Alibaba Cloud (stacks/alicloud-prod.yaml)", () => {
  let rs: RecordedResource[];
  before(async () => {
    rs = await run(stack("alicloud-prod"));
  });

  it("builds an app VPC and a data VPC joined by a peering, with vSwitches in three zones", () => {
    const app = one(rs, "alicloud:vpc/network:Network", "alicloud-network-vpc");
    const data = one(rs, "alicloud:vpc/network:Network", "alicloud-network-data-vpc");
    assert.equal(input(app, "cidrBlock"), "10.0.0.0/16");
    assert.equal(input(data, "cidrBlock"), "172.16.0.0/16");
    const peering = one(rs, "alicloud:vpc/peerConnection:PeerConnection", "alicloud-network-app-data");
    assert.deepEqual(
      [input(peering, "vpcId"), input(peering, "acceptingVpcId"), input(peering, "acceptingRegionId")],
      [app.id, data.id, "cn-hangzhou"],
    );
    const switches = ofType(rs, T.aliSwitch);
    assert.equal(switches.length, 9);
    for (const s of switches)
      assert.equal(input(s, "vpcId"), input(s, "tags.tier") === "data" ? data.id : app.id, s.name);
    assert.deepEqual(
      [...new Set(switches.map((s) => input(s, "zoneId")))],
      ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"],
    );
    assert.equal(ofType(rs, "alicloud:vpc/natGateway:NatGateway").length, 3);
    assert.equal(ofType(rs, "alicloud:vpc/snatEntry:SnatEntry").length, 3, "the private vSwitch of each zone");
    const peered = ofType(rs, "alicloud:vpc/routeEntry:RouteEntry").filter(
      (r) => input(r, "nexthopType") === "VpcPeer",
    );
    assert.deepEqual(peered.map((r) => input(r, "destinationCidrblock")).sort(), [
      "10.0.0.0/16",
      "172.16.0.0/16",
      "172.16.0.0/16",
      "172.16.0.0/16",
    ]);
    // Both node pools in the app VPC's private vSwitches (ACK and Terway need the cluster's VPC).
    const pools = ofType(rs, "alicloud:cs/nodePool:NodePool");
    assert.equal(pools.length, 2);
    assert.deepEqual(
      input(pools[0] as RecordedResource, "vswitchIds"),
      input(pools[1] as RecordedResource, "vswitchIds"),
    );
    // Autoscaled pools start at the spec's desired count (app 6 of 3-12), not at their floor.
    assert.deepEqual(
      pools.map((p) => [input(p, "scalingConfig.minSize"), input(p, "desiredSize"), input(p, "scalingConfig.maxSize")]),
      [
        [3, "6", 12],
        [3, "3", 6],
      ],
    );
  });

  it("lets ACK's nodes and pods reach each other over TCP, UDP (cluster DNS) and ICMP within the app segment", () => {
    const app = ofType(rs, T.aliRule).filter((r) => r.name.startsWith("alicloud-network-app-"));
    const fromSegment = app
      .filter((r) => input(r, "cidrIp") === "10.0.0.0/16")
      .map((r) => [input(r, "ipProtocol"), input(r, "portRange")]);
    assert.deepEqual(fromSegment, [
      ["tcp", "1/65535"],
      ["udp", "1/65535"],
      ["icmp", "-1/-1"],
    ]);
  });

  it("lets the data group accept only the app segment and the internet only the LB listeners", () => {
    const rules = ofType(rs, T.aliRule);
    const data = rules.filter((r) => r.name.startsWith("alicloud-network-data-"));
    assert.deepEqual([...new Set(data.map((r) => input(r, "cidrIp")).filter(Boolean))], ["10.0.0.0/16"]);
    const world = rules.filter((r) => input(r, "cidrIp") === "0.0.0.0/0").map((r) => input(r, "portRange"));
    assert.deepEqual(world, ["443/443", "80/80"]);
  });

  it("runs ACK Pro, Tair with 3 shards, VPC-only Kafka and the seed's replicas", () => {
    const ack = one(rs, "alicloud:cs/managedKubernetes:ManagedKubernetes", "alicloud-ack");
    assert.equal(input(ack, "serviceCidr"), "10.100.0.0/16");
    assert.equal(input(ack, "slbInternetEnabled"), false, "no public API server SLB");
    assert.equal(input(ack, "version"), "1.31.9-aliyun.1", "the stack's 1.31 at ACK's newest offered patch");
    assert.ok(input(ack, "addons").some((a: { name: string }) => a.name === "metrics-server"));
    // The edge is an NLB, with the annotations ACK's CCM reads for one: a public vSwitch per zone, the lb group.
    const edge = one(rs, T.release, "alicloud-traefik");
    const svc = input(edge, "values.service");
    assert.equal(svc.spec.loadBalancerClass, "alibabacloud.com/nlb");
    const a = svc.annotations;
    const publics = ofType(rs, T.aliSwitch).filter((v) => input(v, "tags.tier") === "public");
    assert.equal(
      a["service.beta.kubernetes.io/alibaba-cloud-loadbalancer-zone-maps"],
      publics.map((v) => `${input(v, "zoneId")}:${v.id}`).join(","),
    );
    assert.equal(a["service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type"], "internet");
    assert.equal(
      a["service.beta.kubernetes.io/alibaba-cloud-loadbalancer-security-group-ids"],
      one(rs, "alicloud:ecs/securityGroup:SecurityGroup", "alicloud-network-lb").id,
    );
    assert.equal(a["service.beta.kubernetes.io/alibaba-cloud-loadbalancer-spec"], undefined, "a CLB-only annotation");
    const autoscaling = one(rs, "alicloud:cs/autoscalingConfig:AutoscalingConfig", "alicloud-ack-autoscaling");
    assert.equal(input(autoscaling, "scalerType"), "cluster-autoscaler");
    assert.equal(input(autoscaling, "scaleDownEnabled"), true);
    for (const pool of ofType(rs, "alicloud:cs/nodePool:NodePool"))
      assert.equal(input(pool, "scalingConfig.enable"), true, pool.name);
    assert.equal(input(one(rs, "alicloud:kvstore/instance:Instance", "alicloud-data-redis"), "shardCount"), 3);
    assert.equal(input(one(rs, "alicloud:alikafka/instance:Instance", "alicloud-data-kafka"), "deployType"), 5);
    assert.deepEqual(
      ["gateway", "message", "user-center"].map((s) =>
        input(deploymentOf(rs, "alicloud", s, "stable"), "spec.replicas"),
      ),
      [3, 6, 4],
    );
  });
});

describe("platform on both clouds (stacks/multicloud.yaml)", () => {
  let rs: RecordedResource[];
  before(async () => {
    rs = await run(stack("multicloud"));
  });

  it("joins a dual-tunnel Alibaba Cloud VPN gateway (two zones) to two AWS connections, one per its address", () => {
    const aliGw = one(rs, "alicloud:vpn/gateway:Gateway", "multicloud-vpn-ali-gateway");
    assert.equal(input(aliGw, "enableIpsec"), true);
    const publics = ofType(rs, T.aliSwitch).filter((v) => input(v, "tags.tier") === "public");
    assert.deepEqual(
      [input(aliGw, "vswitchId"), input(aliGw, "disasterRecoveryVswitchId")],
      [publics[0]?.id, publics[1]?.id],
      "the gateway and its disaster-recovery vSwitch in two zones",
    );
    const cgws = ofType(rs, "aws:ec2/customerGateway:CustomerGateway").map((c) => input(c, "ipAddress"));
    assert.equal(cgws.length, 2);
    assert.equal(new Set(cgws).size, 2, "one AWS customer gateway per Alibaba address");
    const conns = ofType(rs, "aws:ec2/vpnConnection:VpnConnection");
    assert.equal(conns.length, 2);
    for (const c of conns)
      assert.deepEqual(
        [input(c, "localIpv4NetworkCidr"), input(c, "remoteIpv4NetworkCidr")],
        ["10.1.0.0/16", "10.0.0.0/16"],
        "one SA pair per tunnel: one block each way",
      );
    const ali = one(rs, "alicloud:vpn/connection:Connection", "multicloud-vpn-ali-connection");
    // One block each way: one SA per tunnel, as AWS accepts it; only the app segments cross.
    assert.deepEqual(input(ali, "localSubnets"), ["10.1.0.0/16"]);
    assert.deepEqual(input(ali, "remoteSubnets"), ["10.0.0.0/16"]);
    const tunnels = input(ali, "tunnelOptionsSpecifications");
    assert.deepEqual(
      tunnels.map((t: any) => [t.role, t.tunnelIkeConfig.psk]),
      [
        ["master", "multicloud-vpn-aws-connection-a-psk-1"],
        ["slave", "multicloud-vpn-aws-connection-b-psk-1"],
      ],
      "each Alibaba tunnel keyed with its AWS connection's tunnel-1 key",
    );
    assert.ok(
      ali.secretPaths.some((p) => p.startsWith("tunnelOptionsSpecifications")),
      "keys kept secret",
    );
    const peers = ofType(rs, "alicloud:vpn/customerGateway:CustomerGateway").map((c) => input(c, "ipAddress"));
    assert.equal(new Set(peers).size, 2, "one Alibaba customer gateway per AWS connection's tunnel 1");
  });

  it("routes each side's app segment to the other from every private route table", () => {
    const awsRoutes = ofType(rs, "aws:ec2/vpnConnectionRoute:VpnConnectionRoute").map((r) =>
      input(r, "destinationCidrBlock"),
    );
    assert.deepEqual(awsRoutes, ["10.1.0.0/16", "10.1.0.0/16"], "on both AWS connections");
    const toAli = ofType(rs, "aws:ec2/route:Route").filter((r) => r.name.startsWith("multicloud-vpn-aws-rt-"));
    assert.equal(toAli.length, 3);
    const toAws = ofType(rs, "alicloud:vpc/routeEntry:RouteEntry").filter((r) => r.name.startsWith("multicloud-vpn-"));
    assert.equal(toAws.length, 3);
    assert.ok(toAws.every((r) => input(r, "nexthopType") === "VpnGateway"));
  });

  it("admits only its own app segment into each data tier, never anything of the other cloud", () => {
    const awsData = ofType(rs, T.sgIn)
      .filter((r) => r.name.startsWith("aws-network-data-"))
      .map((r) => input(r, "cidrIpv4"))
      .filter(Boolean);
    assert.deepEqual([...new Set(awsData)], ["10.0.0.0/16"]);
    const aliData = ofType(rs, T.aliRule)
      .filter((r) => r.name.startsWith("alicloud-network-data-"))
      .map((r) => input(r, "cidrIp"))
      .filter(Boolean);
    assert.deepEqual([...new Set(aliData)], ["10.1.0.0/16"]);
  });

  it("runs the services in both clusters under distinct names", () => {
    for (const cloud of ["aws", "alicloud"])
      assert.equal(input(deploymentOf(rs, cloud, "message", "stable"), "spec.replicas"), 6);
  });

  it("fronts each cluster with its own Traefik and Gateway, with weighted HTTPRoutes and no Ingress", () => {
    for (const cloud of ["aws", "alicloud"]) {
      assert.equal(input(one(rs, T.release, `${cloud}-traefik`), "version"), "39.0.7");
      assert.equal(input(one(rs, T.gateway, `${cloud}-gateway-gateway`), "metadata.name"), "im-gateway");
      for (const svc of ["gateway", "user-center"])
        assert.equal(input(one(rs, T.route, `${cloud}-services-${svc}-route`), "spec.rules.0.backendRefs").length, 2);
    }
    assert.equal(ofType(rs, T.ingress).length, 0);
    assert.equal(ofType(rs, T.release).filter((r) => input(r, "chart") === "ingress-nginx").length, 0);
  });
});

describe("platform options", () => {
  it("at a canary weight of 10 % runs canary pods and gives the canary backendRef weight 10", async () => {
    const spec = stack("aws-prod");
    const rs = await run({ ...spec, kubernetes: { ...spec.kubernetes, canary: { weight: 10 } } });
    assert.equal(input(deploymentOf(rs, "aws", "gateway", "canary"), "spec.replicas"), 1);
    assert.equal(input(deploymentOf(rs, "aws", "message", "canary"), "spec.replicas"), 1);
    assert.deepEqual(
      input(one(rs, T.route, "aws-services-gateway-route"), "spec.rules.0.backendRefs").map(
        (b: { weight: number }) => b.weight,
      ),
      [90, 10],
    );
  });

  it("runs Redis and Kafka in the cluster when the stack asks for it", async () => {
    const spec = stack("aws-prod");
    const aws = spec.clouds.aws;
    if (aws === undefined) throw new Error("aws-prod has clouds.aws");
    const data = {
      ...aws.data,
      redis: { ...aws.data.redis, mode: "in-cluster" as const },
      kafka: { ...aws.data.kafka, mode: "strimzi" as const },
    };
    const rs = await run({ ...spec, clouds: { aws: { ...aws, data } } });
    assert.equal(ofType(rs, "aws:elasticache/replicationGroup:ReplicationGroup").length, 0);
    assert.equal(input(one(rs, "kubernetes:apps/v1:StatefulSet", "aws-data-redis"), "spec.replicas"), 6);
    assert.equal(
      input(one(rs, "kubernetes:kafka.strimzi.io/v1beta2:KafkaNodePool", "aws-data-kafka-brokers"), "spec.replicas"),
      3,
    );
  });

  it("refuses a VPN between overlapping blocks before declaring anything", async () => {
    const { resources } = await runWithMocks("overlap", () =>
      assert.throws(
        () =>
          new IpsecVpn("vpn", {
            aws: { vpcId: "vpc-a", cidrs: ["10.0.0.0/16"], routeTableIds: [] },
            alicloud: {
              vpcId: "vpc-b",
              vswitchId: "vsw",
              disasterRecoveryVswitchId: "vsw-2",
              cidrs: ["10.0.128.0/17"],
              routeTableIds: [],
            },
            tags: {},
            providers: { aws: undefined as never, alicloud: undefined as never },
          }),
        (err: unknown) =>
          err instanceof VpnOverlapError && /alicloud 10\.0\.128\.0\/17 overlaps aws 10\.0\.0\.0\/16/.test(err.message),
      ),
    );
    assert.equal(resources.length, 0);
  });
});

// The program module runs at import; a query string gives each test its own instance of it. (In this file rather
// than its own: each test file is a process, and loading the providers is most of a process's time.)
const program = (tag: string) => import(`./index.ts?${tag}`) as Promise<typeof Program>;

describe("the Pulumi program (infra/index.ts)", () => {
  it("reads stacks/<stack>.yaml for the current stack and refuses it while a placeholder remains", async () => {
    // The shipped stacks keep the edge's host as a placeholder (infra/lib/placeholders.ts): the real engine stops
    // there, before declaring anything; infra/lib/placeholders.test.ts deploys the same stack with an owned host.
    const { resources } = await runWithMocks("aws-prod", () =>
      assert.rejects(() => program("aws-prod"), {
        name: "SpecError",
        message:
          'stacks/aws-prod.yaml: kubernetes.ingress.host: got "im.example.com"; a reserved example name (RFC 2606): ' +
          "the public name of the edge, whose certificate the stack obtains (and 1 more placeholder(s); imctl plan lists them)",
      }),
    );
    assert.equal(resources.filter((r) => r.custom).length, 0);
  });

  it("refuses a local stack with the spec's one-line message", async () => {
    await assert.rejects(() => runWithMocks("local", () => program("local")), {
      name: "SpecError",
      message:
        'stacks/local.yaml: target: got "local"; Pulumi deploys only target "kubernetes" stacks (run the local target with "imctl local up")',
    });
  });
});
