/**
 * The Redis Cluster (presence, routing): `primaries` shards with `replicasPerPrimary` replicas each, spread over the
 * zones, reachable only from the app segment. Three ways to run it, one per `clouds.<cloud>.data.redis.mode`:
 * - ElastiCache in cluster mode (AWS, managed): Multi-AZ, automatic failover, encrypted at rest and in transit;
 * - Tair cluster edition (Alibaba Cloud, managed): shards on cloud disks, a standby zone, TLS, allow-listed app segment;
 * - in-cluster: a StatefulSet on the data nodes plus a one-shot Job that forms the cluster.
 * With `auth`, every client must AUTH: ElastiCache's auth token (it requires transit encryption, which is on), Tair's
 * instance password, in-cluster `requirepass` (and `masterauth`, so replicas can sync) read from a Secret.
 * Replication is asynchronous in every mode, which is why the services persist the seq high-water mark in TiDB.
 */
import * as alicloud from "@pulumi/alicloud";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from "../lib/pod-security.ts";
import type { DataPlacement } from "./placement.ts";

export type RedisPlacement =
  | { kind: "elasticache"; nodeType: string; subnetIds: pulumi.Input<string>[]; securityGroupId: pulumi.Input<string> }
  | {
      kind: "tair";
      instanceClass: string;
      vswitchId: pulumi.Input<string>;
      zoneId: string;
      secondaryZoneId: string;
      appCidr: string;
      securityGroupId: pulumi.Input<string>;
    }
  | {
      kind: "in-cluster";
      namespace: pulumi.Input<string>;
      provider: k8s.Provider;
      storageGb: number;
      /** The data nodes and the volumes' StorageClass. */
      data: DataPlacement;
    };

export interface RedisClusterArgs {
  primaries: number;
  replicasPerPrimary: number;
  placement: RedisPlacement;
  tags: Record<string, string>;
  /**
   * The password every client presents; in-cluster, the Secret and key the nodes read it from (in the data
   * namespace). Default none (an existing cluster's in-cluster Redis, the local target).
   */
  auth?: { password: pulumi.Input<string>; secret: { name: pulumi.Input<string>; key: string } } | undefined;
}

/** The in-cluster image; pinned so a node replacement never pulls a different Redis. */
export const REDIS_IMAGE = "redis:7.4.2";
/** The official image's `redis` user: started as it, the entrypoint skips its chown-and-drop-root step. */
const REDIS_UID = 999;

export class RedisCluster extends pulumi.ComponentResource {
  /** Comma-separated seed nodes (host:port) for the services' REDIS_NODES. */
  readonly nodes: pulumi.Output<string>;

  constructor(name: string, args: RedisClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("im:data:RedisCluster", name, {}, opts);
    const p = args.placement;
    switch (p.kind) {
      case "elasticache":
        this.nodes = this.elasticache(name, args, p);
        break;
      case "tair":
        this.nodes = this.tair(name, args, p);
        break;
      case "in-cluster":
        this.nodes = this.inCluster(name, args, p);
        break;
    }
    this.registerOutputs({ nodes: this.nodes });
  }

  private elasticache(
    name: string,
    args: RedisClusterArgs,
    p: Extract<RedisPlacement, { kind: "elasticache" }>,
  ): pulumi.Output<string> {
    const subnets = new aws.elasticache.SubnetGroup(
      `${name}-subnets`,
      { subnetIds: p.subnetIds, description: `${name}: data subnets`, tags: args.tags },
      { parent: this },
    );
    const group = new aws.elasticache.ReplicationGroup(
      name,
      {
        description: `${name}: IM presence and routing`,
        engine: "redis",
        engineVersion: "7.1",
        nodeType: p.nodeType,
        port: 6379,
        clusterMode: "enabled",
        parameterGroupName: "default.redis7.cluster.on",
        numNodeGroups: args.primaries,
        replicasPerNodeGroup: args.replicasPerPrimary,
        automaticFailoverEnabled: true,
        multiAzEnabled: true,
        atRestEncryptionEnabled: true,
        transitEncryptionEnabled: true,
        ...(args.auth === undefined ? {} : { authToken: pulumi.secret(args.auth.password) }),
        subnetGroupName: subnets.name,
        securityGroupIds: [p.securityGroupId],
        snapshotRetentionLimit: 7,
        tags: args.tags,
      },
      { parent: this },
    );
    return pulumi.interpolate`${group.configurationEndpointAddress}:6379`;
  }

  private tair(
    name: string,
    args: RedisClusterArgs,
    p: Extract<RedisPlacement, { kind: "tair" }>,
  ): pulumi.Output<string> {
    const instance = new alicloud.kvstore.Instance(
      name,
      {
        dbInstanceName: name,
        instanceType: "Redis",
        engineVersion: "7.0",
        instanceClass: p.instanceClass,
        shardCount: args.primaries,
        paymentType: "PostPaid",
        vswitchId: p.vswitchId,
        zoneId: p.zoneId,
        secondaryZoneId: p.secondaryZoneId,
        // Only the app segment may connect; no public endpoint is ever allocated.
        securityIps: [p.appCidr],
        securityGroupId: p.securityGroupId,
        sslEnable: "Enable",
        tdeStatus: "Enabled",
        // The instance's default account: AUTH <password> (no user name) signs in as it.
        ...(args.auth === undefined ? {} : { password: pulumi.secret(args.auth.password) }),
        tags: args.tags,
      },
      { parent: this },
    );
    return pulumi.interpolate`${instance.connectionDomain}:6379`;
  }

  private inCluster(
    name: string,
    args: RedisClusterArgs,
    p: Extract<RedisPlacement, { kind: "in-cluster" }>,
  ): pulumi.Output<string> {
    const opts = { parent: this, provider: p.provider };
    const nodes = args.primaries * (1 + args.replicasPerPrimary);
    const auth = args.auth;
    // redis-cli (the probe and the Job) reads REDISCLI_AUTH; the server its password from REDIS_PASSWORD.
    const passwordRef =
      auth === undefined ? undefined : { secretKeyRef: { name: auth.secret.name, key: auth.secret.key } };
    const authEnv =
      passwordRef === undefined
        ? []
        : [
            { name: "REDIS_PASSWORD", valueFrom: passwordRef },
            { name: "REDISCLI_AUTH", valueFrom: passwordRef },
          ];
    const labels = { "app.kubernetes.io/name": "redis-cluster", "app.kubernetes.io/part-of": "im-platform" };
    const headless = new k8s.core.v1.Service(
      `${name}-headless`,
      {
        metadata: { name: "redis-cluster", namespace: p.namespace, labels },
        spec: {
          clusterIP: "None",
          selector: labels,
          ports: [
            { name: "redis", port: 6379 },
            { name: "bus", port: 16379 },
          ],
        },
      },
      opts,
    );
    const set = new k8s.apps.v1.StatefulSet(
      name,
      {
        metadata: { name: "redis-cluster", namespace: p.namespace, labels },
        spec: {
          serviceName: headless.metadata.name,
          replicas: nodes,
          podManagementPolicy: "Parallel",
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              nodeSelector: p.data.nodeSelector,
              tolerations: p.data.tolerations,
              topologySpreadConstraints: [
                {
                  maxSkew: 1,
                  topologyKey: "topology.kubernetes.io/zone",
                  whenUnsatisfiable: "DoNotSchedule",
                  labelSelector: { matchLabels: labels },
                },
              ],
              // The image's redis user; fsGroup lets it write the volume.
              securityContext: restrictedPodSecurityContext(REDIS_UID),
              containers: [
                {
                  name: "redis",
                  image: REDIS_IMAGE,
                  args: [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "/data/nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                    "--appendonly",
                    "yes",
                    "--protected-mode",
                    "no",
                    // $(REDIS_PASSWORD) is expanded by the kubelet from the container's env, never written here.
                    ...(auth === undefined
                      ? []
                      : ["--requirepass", "$(REDIS_PASSWORD)", "--masterauth", "$(REDIS_PASSWORD)"]),
                  ],
                  env: authEnv,
                  ports: [
                    { name: "redis", containerPort: 6379 },
                    { name: "bus", containerPort: 16379 },
                  ],
                  readinessProbe: { exec: { command: ["redis-cli", "ping"] }, periodSeconds: 5 },
                  resources: { requests: { cpu: "500m", memory: "2Gi" }, limits: { memory: "2Gi" } },
                  volumeMounts: [{ name: "data", mountPath: "/data" }],
                  securityContext: restrictedContainerSecurityContext(),
                },
              ],
            },
          },
          volumeClaimTemplates: [
            {
              metadata: { name: "data" },
              spec: {
                accessModes: ["ReadWriteOnce"],
                ...(p.data.storageClass === undefined ? {} : { storageClassName: p.data.storageClass }),
                resources: { requests: { storage: `${p.storageGb}Gi` } },
              },
            },
          ],
        },
      },
      opts,
    );
    new k8s.policy.v1.PodDisruptionBudget(
      `${name}-pdb`,
      {
        metadata: { name: "redis-cluster", namespace: p.namespace },
        spec: { maxUnavailable: 1, selector: { matchLabels: labels } },
      },
      opts,
    );
    const hosts = Array.from({ length: nodes }, (_, i) => `redis-cluster-${i}.redis-cluster.$(NAMESPACE).svc:6379`);
    // Forms the cluster once every node answers; a second run finds it formed and exits 0.
    new k8s.batch.v1.Job(
      `${name}-create`,
      {
        metadata: { name: "redis-cluster-create", namespace: p.namespace, labels },
        spec: {
          backoffLimit: 10,
          template: {
            spec: {
              restartPolicy: "OnFailure",
              securityContext: restrictedPodSecurityContext(REDIS_UID),
              tolerations: p.data.tolerations,
              containers: [
                {
                  name: "create",
                  image: REDIS_IMAGE,
                  env: [
                    { name: "NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                    ...authEnv,
                  ],
                  // redis-cli --cluster create wants addresses: resolve each pod's stable name first.
                  command: [
                    "sh",
                    "-c",
                    `redis-cli -h redis-cluster-0.redis-cluster.$NAMESPACE.svc cluster info | grep -q cluster_state:ok && exit 0; ` +
                      `addrs=""; for i in $(seq 0 ${nodes - 1}); do ` +
                      `ip=$(getent hosts redis-cluster-$i.redis-cluster.$NAMESPACE.svc | awk '{print $1}'); ` +
                      `[ -n "$ip" ] || exit 1; addrs="$addrs $ip:6379"; done; ` +
                      `redis-cli --cluster create $addrs --cluster-replicas ${args.replicasPerPrimary} --cluster-yes`,
                  ],
                  securityContext: restrictedContainerSecurityContext(),
                },
              ],
            },
          },
        },
      },
      { ...opts, dependsOn: [set] },
    );
    return pulumi.output(p.namespace).apply((ns) => hosts.map((h) => h.replace("$(NAMESPACE)", ns)).join(","));
  }
}
