/**
 * A network partition of one local component, with nftables on the loopback interface.
 *
 * Two cuts, both in one nftables table of the drill's own (`inet imctl_drill_<id>`), so removing the table removes
 * exactly these rules and never anyone else's:
 * - every packet to or from the component's listening ports (what others opened to it);
 * - every packet of the connections the component opened to others: the ones open now by their local ports (from
 *   /proc), new ones by a cgroup v2 group the component's processes are moved into for the partition (a socket
 *   keeps the cgroup it was created in). Without this half a Redis node keeps pinging its peers over its outbound
 *   links and is never seen as failed: a one-way cut is not a partition.
 * Healing deletes the table, moves the processes back to the cgroup they came from and removes the group. When
 * cgroup v2 is not mounted, only the first cut is made and the result says so.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { execa } from "execa";
import { groupMembers } from "../../lib/process.ts";
import type { LocalContext } from "./context.ts";

export const partitionName = (drillId: string) => `imctl_drill_${drillId.replace(/[^a-z0-9]/gi, "_")}`;

/** Where cgroup v2 is mounted (/sys/fs/cgroup on pure v2 hosts, /sys/fs/cgroup/unified on hybrid ones), if at all. */
function cgroup2Mount(): string | undefined {
  try {
    return readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" "))
      .find((f) => f[2] === "cgroup2")?.[1];
  } catch {
    return undefined;
  }
}

/** The cgroup v2 path of a process ("/" or "/system.slice/..."), from /proc/<pid>/cgroup's "0::" line. */
function cgroupOf(pid: number): string {
  try {
    const line = readFileSync(`/proc/${pid}/cgroup`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("0::"));
    return line?.slice(3) || "/";
  } catch {
    return "/";
  }
}

/** Local ports of a process's TCP sockets (its open connections), from its descriptors and /proc/net/tcp{,6}. */
function socketPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1]) inodes.add(m[1]);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const table of ["tcp", "tcp6"]) {
    let text = "";
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      const inode = f[9];
      if (local === undefined || inode === undefined || !inodes.has(inode)) continue;
      ports.push(parseInt(local.slice(local.lastIndexOf(":") + 1), 16));
    }
  }
  return ports;
}

async function nft(ctx: LocalContext, args: string[], input?: string): Promise<{ ok: boolean; stderr: string }> {
  const r = await execa(ctx.tool("nft"), args, { input, reject: false });
  return { ok: r.exitCode === 0, stderr: String(r.stderr).trim() };
}

export interface Partition {
  /** Whether the component's own outbound traffic is cut too (cgroup v2 available). */
  twoWay: boolean;
  heal(): Promise<void>;
}

/** Cuts `pid`'s process group and `ports` off. */
export async function cutOff(ctx: LocalContext, drillId: string, pid: number, ports: number[]): Promise<Partition> {
  const name = partitionName(drillId);
  const mount = cgroup2Mount();
  const moved: Array<{ pid: number; from: string }> = [];
  let group: string | undefined;
  if (mount !== undefined) {
    group = join(mount, name);
    mkdirSync(group, { recursive: true });
    for (const p of new Set([pid, ...groupMembers(pid)])) {
      const from = cgroupOf(p);
      try {
        writeFileSync(join(group, "cgroup.procs"), String(p));
        moved.push({ pid: p, from });
      } catch {
        // exited meanwhile
      }
    }
  }
  // A socket keeps the cgroup it was created in: connections the component opened before the move are cut by
  // their local ports instead.
  const own = [...new Set([pid, ...groupMembers(pid)].flatMap(socketPorts))].filter((p) => !ports.includes(p));
  const ownRule = (dir: "sport" | "dport") =>
    `    oifname "lo" tcp ${dir} { ${own.join(", ")} } drop comment "imctl drill ${drillId}"\n`;
  const ownRules = own.length ? `${ownRule("sport")}${ownRule("dport")}` : "";
  // nft names a cgroup v2 group by its path under /sys/fs/cgroup; level 1: the group sits right under the root.
  const cgroupRule =
    group !== undefined && moved.length > 0
      ? `    oifname "lo" socket cgroupv2 level 1 "${relative("/sys/fs/cgroup", group)}" drop comment "imctl drill ${drillId}"\n`
      : "";
  const rules = `table inet ${name} {
  chain out {
    type filter hook output priority -10; policy accept;
    oifname "lo" tcp dport { ${ports.join(", ")} } drop comment "imctl drill ${drillId}"
    oifname "lo" tcp sport { ${ports.join(", ")} } drop comment "imctl drill ${drillId}"
${ownRules}${cgroupRule}  }
}
`;
  const r = await nft(ctx, ["-f", "-"], rules);
  const heal = async () => {
    await nft(ctx, ["delete", "table", "inet", name]);
    if (mount !== undefined) restoreGroup(mount, name, moved);
  };
  if (!r.ok) {
    await heal();
    throw new Error(`\`nft -f -\` failed: ${r.stderr}`);
  }
  return { twoWay: cgroupRule !== "", heal };
}

/** Moves processes back and removes the group; after a crash (nothing recorded) everything left goes to the root. */
function restoreGroup(mount: string, name: string, moved: Array<{ pid: number; from: string }>): void {
  const group = join(mount, name);
  if (!existsSync(group)) return;
  const left = readFileSync(join(group, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  for (const p of left) {
    const from = moved.find((m) => m.pid === p)?.from ?? "/";
    const target = existsSync(join(mount, from, "cgroup.procs"))
      ? join(mount, from, "cgroup.procs")
      : join(mount, "cgroup.procs");
    try {
      writeFileSync(target, String(p));
    } catch {
      // exited meanwhile
    }
  }
  rmdirSync(group);
}

/** Heals a partition left by a drill whose imctl is gone: its table and its cgroup, if still there. */
export async function healLeftover(ctx: LocalContext, drillId: string): Promise<void> {
  const name = partitionName(drillId);
  const r = await nft(ctx, ["delete", "table", "inet", name]);
  if (!r.ok && !/No such file or directory|does not exist/i.test(r.stderr))
    throw new Error(`could not remove the partition's nftables table ${name}: ${r.stderr}`);
  const mount = cgroup2Mount();
  if (mount !== undefined) restoreGroup(mount, name, []);
}

/** Moves the processes of a drill's leftover cgroup back to the root and removes the group (test teardown). */
export function removeLeftoverGroup(name: string): void {
  const mount = cgroup2Mount();
  if (mount !== undefined && name.startsWith("imctl_drill_")) restoreGroup(mount, name, []);
}

/** Tables of drills on this machine (for checks and tests). */
export function leftoverGroups(): string[] {
  const mount = cgroup2Mount();
  return mount === undefined ? [] : readdirSync(mount).filter((d) => d.startsWith("imctl_drill_"));
}
