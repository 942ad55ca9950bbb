/**
 * What the simulated nodes do, as kwok Stage definitions (kwok.x-k8s.io/v1alpha1), and the Node objects `up`
 * creates. kwok runs no container: a Stage says which objects it matches (selector) and what status to write next
 * (a Go template over the object). Ours: a node becomes Ready and keeps sending heartbeats; a pod bound to a
 * simulated node becomes Running and Ready with a pod IP; a Job's pod then Succeeds (so Jobs complete); a pod being
 * deleted is removed (there is no kubelet to confirm the deletion). Pure: rendering only.
 */
import { stringify } from "yaml";
import { KWOK_NODE_ANNOTATION, NODE_ALLOCATABLE, NODE_INSTANCE_TYPE, ZONES, nodeName } from "./layout.ts";

/** The kwok version the stages are written for (base/tools.mjs pins the binary). */
export const KWOK_VERSION = "v0.8.0";

/** How often a Ready node's heartbeat is renewed: well inside the node lifecycle controller's 40 s grace period. */
export const HEARTBEAT_MS = 10_000;
export const HEARTBEAT_JITTER_MS = 15_000;

interface Expr {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values?: string[];
}

interface StageSpec {
  name: string;
  kind: "Node" | "Pod";
  match: Expr[];
  delayMs?: { duration: number; jitter: number };
  next: Record<string, unknown>;
  immediateNextStage?: boolean;
}

const READY_STATUS = '.status.conditions.[] | select( .type == "Ready" ) | .status';
const NO_DELETION: Expr = { key: ".metadata.deletionTimestamp", operator: "DoesNotExist" };

/** The node conditions a healthy kubelet reports; `transition` is a template expression for lastTransitionTime. */
function nodeConditions(transition: string): string {
  const conds: Array<[string, string, string]> = [
    ["Ready", "True", "KubeletReady"],
    ["MemoryPressure", "False", "KubeletHasSufficientMemory"],
    ["DiskPressure", "False", "KubeletHasNoDiskPressure"],
    ["PIDPressure", "False", "KubeletHasSufficientPID"],
    ["NetworkUnavailable", "False", "RouteCreated"],
  ];
  const lines = ["conditions:"];
  for (const [type, status, reason] of conds) {
    lines.push(
      `- type: ${type}`,
      `  status: "${status}"`,
      `  reason: ${reason}`,
      `  message: "simulated by kwok: no container runs on this node"`,
      "  lastHeartbeatTime: {{ $now | Quote }}",
      `  lastTransitionTime: {{ ${transition} | Quote }}`,
    );
  }
  return lines.join("\n");
}

function resources(): string {
  const r = NODE_ALLOCATABLE;
  return [`  cpu: "${r.cpu}"`, `  memory: "${r.memory}"`, `  pods: "${r.pods}"`].join("\n");
}

function nodeInitialise(): StageSpec {
  const template = [
    "{{ $now := Now }}",
    nodeConditions("$now"),
    "addresses:",
    "- type: InternalIP",
    "  address: {{ NodeIP | Quote }}",
    "- type: Hostname",
    "  address: {{ .metadata.name | Quote }}",
    "allocatable:",
    resources(),
    "capacity:",
    resources(),
    "nodeInfo:",
    "  architecture: amd64",
    "  operatingSystem: linux",
    `  kubeletVersion: "kwok-${KWOK_VERSION}"`,
    `  kubeProxyVersion: "kwok-${KWOK_VERSION}"`,
    `  containerRuntimeVersion: "kwok://${KWOK_VERSION}"`,
    `  kernelVersion: "kwok-${KWOK_VERSION}"`,
    `  osImage: "simulated (kwok ${KWOK_VERSION})"`,
    "phase: Running",
  ].join("\n");
  return {
    name: "imctl-node-initialise",
    kind: "Node",
    match: [{ key: READY_STATUS, operator: "NotIn", values: ["True"] }],
    next: { statusTemplate: `${template}\n` },
  };
}

function nodeHeartbeat(): StageSpec {
  // Only the heartbeat time moves; the transition time stays the node's creation (it has been Ready since).
  const template = ["{{ $now := Now }}", nodeConditions("(or .metadata.creationTimestamp $now)")].join("\n");
  return {
    name: "imctl-node-heartbeat",
    kind: "Node",
    match: [
      { key: ".status.phase", operator: "In", values: ["Running"] },
      { key: READY_STATUS, operator: "In", values: ["True"] },
    ],
    delayMs: { duration: HEARTBEAT_MS, jitter: HEARTBEAT_JITTER_MS },
    next: { statusTemplate: `${template}\n` },
    immediateNextStage: true,
  };
}

function podReady(): StageSpec {
  const template = [
    "{{ $now := Now }}",
    "conditions:",
    ...["PodScheduled", "Initialized", "ContainersReady", "Ready"].flatMap((t) => [
      `- type: ${t}`,
      '  status: "True"',
      "  lastTransitionTime: {{ $now | Quote }}",
    ]),
    "{{ range .spec.readinessGates }}",
    "- type: {{ .conditionType | Quote }}",
    '  status: "True"',
    "  lastTransitionTime: {{ $now | Quote }}",
    "{{ end }}",
    "containerStatuses:",
    "{{ range .spec.containers }}",
    "- name: {{ .name | Quote }}",
    "  image: {{ .image | Quote }}",
    "  ready: true",
    "  started: true",
    "  restartCount: 0",
    "  state:",
    "    running:",
    "      startedAt: {{ $now | Quote }}",
    "{{ end }}",
    "initContainerStatuses:",
    "{{ range .spec.initContainers }}",
    "- name: {{ .name | Quote }}",
    "  image: {{ .image | Quote }}",
    "  ready: true",
    "  restartCount: 0",
    "  state:",
    "    terminated:",
    "      exitCode: 0",
    "      reason: Completed",
    "      startedAt: {{ $now | Quote }}",
    "      finishedAt: {{ $now | Quote }}",
    "{{ end }}",
    "hostIP: {{ NodeIPWith .spec.nodeName | Quote }}",
    'podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ' +
      '( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}',
    "phase: Running",
    "startTime: {{ $now | Quote }}",
  ].join("\n");
  return {
    name: "imctl-pod-ready",
    kind: "Pod",
    match: [NO_DELETION, { key: ".status.podIP", operator: "DoesNotExist" }],
    next: { statusTemplate: `${template}\n` },
  };
}

function podComplete(): StageSpec {
  const template = [
    "{{ $now := Now }}",
    "conditions:",
    ...["Ready", "ContainersReady"].flatMap((t) => [
      `- type: ${t}`,
      '  status: "False"',
      "  reason: PodCompleted",
      "  lastTransitionTime: {{ $now | Quote }}",
    ]),
    "containerStatuses:",
    "{{ range .spec.containers }}",
    "- name: {{ .name | Quote }}",
    "  image: {{ .image | Quote }}",
    "  ready: false",
    "  started: false",
    "  restartCount: 0",
    "  state:",
    "    terminated:",
    "      exitCode: 0",
    "      reason: Completed",
    "      startedAt: {{ $now | Quote }}",
    "      finishedAt: {{ $now | Quote }}",
    "{{ end }}",
    "phase: Succeeded",
  ].join("\n");
  return {
    name: "imctl-pod-complete",
    kind: "Pod",
    match: [
      NO_DELETION,
      { key: ".status.phase", operator: "In", values: ["Running"] },
      { key: ".metadata.ownerReferences.[].kind", operator: "In", values: ["Job"] },
    ],
    // A Job's pod "runs" for a moment, so a watcher sees it Running before it Succeeds.
    delayMs: { duration: 1000, jitter: 1000 },
    next: { statusTemplate: `${template}\n` },
  };
}

function podDelete(): StageSpec {
  return {
    name: "imctl-pod-delete",
    kind: "Pod",
    match: [{ key: ".metadata.deletionTimestamp", operator: "Exists" }],
    next: { finalizers: { empty: true }, delete: true },
  };
}

/** The stages kwok runs with, in the order they are written. */
export function stageSpecs(): StageSpec[] {
  return [nodeInitialise(), nodeHeartbeat(), podReady(), podComplete(), podDelete()];
}

function stageObject(s: StageSpec): Record<string, unknown> {
  const spec: Record<string, unknown> = {
    resourceRef: { apiGroup: "v1", kind: s.kind },
    selector: { matchExpressions: s.match },
  };
  if (s.delayMs) {
    spec.delay = { durationMilliseconds: s.delayMs.duration, jitterDurationMilliseconds: s.delayMs.jitter };
  }
  spec.next = s.next;
  if (s.immediateNextStage) spec.immediateNextStage = true;
  return { apiVersion: "kwok.x-k8s.io/v1alpha1", kind: "Stage", metadata: { name: s.name }, spec };
}

/** The file kwok reads with `--config`: one YAML document per Stage. */
export function renderStages(): string {
  const header = "# Written by imctl cluster up (cli/src/cluster/stages.ts); edits are overwritten.\n";
  return (
    header +
    stageSpecs()
      .map((s) => `---\n${stringify(stageObject(s), { lineWidth: 0 })}`)
      .join("")
  );
}

/** The simulated nodes: one per zone, labelled like a cloud node, annotated so kwok manages them. */
export function nodeManifests(): Array<{
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
}> {
  return ZONES.map((zone) => ({
    metadata: {
      name: nodeName(zone),
      labels: {
        "kubernetes.io/hostname": nodeName(zone),
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/zone": zone,
        "topology.kubernetes.io/region": "embedded",
        "node.kubernetes.io/instance-type": NODE_INSTANCE_TYPE,
        type: "kwok",
      },
      annotations: { [KWOK_NODE_ANNOTATION]: "fake", "node.alpha.kubernetes.io/ttl": "0" },
    },
  }));
}
