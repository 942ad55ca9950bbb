/**
 * The images of the embedded cluster's real node, built here with no Docker, no base image and no pull:
 * - `pause`: the sandbox image, one static binary (tools/pause);
 * - the services' images, with the content their Dockerfiles produce (services/<svc>/Dockerfile): Node from this
 *   machine with the libraries `ldd` lists, the production dependencies of services/package.json (npm ci
 *   --omit=dev), the compiled services (services/tsconfig.build.json), the migrations and services/package.json,
 *   run as uid 1000 from /app with the Dockerfile's environment and command.
 * Layers are cached by content under the node's image directory; each image is tagged by its manifest digest.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { REPO_ROOT } from "../../../../base/root.mjs";
import { NODE_LOCAL_REGISTRY } from "../../../../infra/lib/spec-cluster.ts";
import { toolPath } from "../../../../base/tools.mjs";
import { type BuiltImage, type ImageConfig, type LayerEntry, writeImageArchive, writeLayer } from "./oci.ts";

/** The image repository names; the tag is the content's. */
export const IMAGE_REPOSITORY = NODE_LOCAL_REGISTRY;
export const SERVICES = ["gateway", "message", "user-center"] as const;
export type ServiceName = (typeof SERVICES)[number];

/** What the Dockerfiles set (services/<svc>/Dockerfile), which a test holds both to. */
export const SERVICE_IMAGE = {
  workdir: "/app",
  uid: 1000,
  env: { NODE_ENV: "production", PORT: "8080", HOST: "0.0.0.0" },
  port: 8080,
  cmd: (svc: ServiceName): string[] => ["node", "--enable-source-maps", `services/${svc}/src/main.js`],
} as const;

const sha = (s: string | Buffer): string => createHash("sha256").update(s).digest("hex");

function run(cmd: string, args: string[], cwd: string, what: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.error || r.status !== 0) {
    const why = (r.stderr || r.stdout || String(r.error ?? "")).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${what}: ${cmd} ${args.join(" ")} failed: ${why.slice(0, 400)}`);
  }
  return r.stdout;
}

/** Every regular file under `dir` (symlinks kept as links), as layer entries rooted at `at`. */
function tree(dir: string, at: string): LayerEntry[] {
  const out: LayerEntry[] = [];
  for (const rel of (readdirSync(dir, { recursive: true }) as string[]).sort()) {
    const src = join(dir, rel);
    const st = statSync(src, { throwIfNoEntry: false });
    if (!st) continue;
    const path = join(at, rel);
    if (st.isDirectory()) out.push({ kind: "dir", path });
    else out.push({ kind: "file", path, source: src });
  }
  return out;
}

async function cachedLayer(dir: string, key: string, entries: () => LayerEntry[]) {
  const file = join(dir, "layers", `${key}.tar`);
  if (existsSync(file)) {
    const digest = `sha256:${sha(readFileSync(file))}`;
    return { digest, size: statSync(file).size, file };
  }
  return writeLayer(entries(), file);
}

/** An image of one static binary (built by the installer with CGO_ENABLED=0), run as a non-root user. */
async function staticBinaryImage(dir: string, name: string, uid: number): Promise<BuiltImage> {
  const bin = toolPath(name);
  const layer = await cachedLayer(dir, `${name}-${sha(readFileSync(bin)).slice(0, 16)}`, () => [
    { kind: "file", path: name, source: bin, mode: 0o755 },
    { kind: "dir", path: "tmp", mode: 0o1777 },
  ]);
  const config: ImageConfig = { env: {}, cmd: [], entrypoint: [`/${name}`], workingDir: "/", user: `${uid}:${uid}` };
  return writeImageArchive(`${IMAGE_REPOSITORY}/${name}`, config, [layer], join(dir, `${name}.oci.tar`));
}

/** The pause image (tools/pause). */
export const buildPauseImage = (dir: string): Promise<BuiltImage> => staticBinaryImage(dir, "pause", 65535);

/** Traefik's image (tools/traefik), the cluster's Gateway API implementation. */
export const buildTraefikImage = (dir: string): Promise<BuiltImage> => staticBinaryImage(dir, "traefik", 65532);

/** The shared libraries a dynamically linked binary loads (ldd), as layer entries at their own paths. */
function sharedLibraries(bin: string): LayerEntry[] {
  return run("ldd", [bin], REPO_ROOT, `list ${bin}'s libraries`)
    .split("\n")
    .map((line) => /(\/\S+) \(0x/.exec(line)?.[1])
    .filter((p): p is string => p !== undefined)
    .map((lib): LayerEntry => ({ kind: "file", path: lib, source: realpathSync(lib), mode: 0o755 }));
}

/**
 * Prometheus's image: the binary this machine runs for the local target (Debian's, dynamically linked) with the
 * libraries it loads, run as the `nobody` user; the configuration comes from a ConfigMap (node/observability.ts).
 */
export async function buildPrometheusImage(dir: string): Promise<BuiltImage> {
  const bin = realpathSync(toolPath("prometheus"));
  const layer = await cachedLayer(dir, `prometheus-${sha(readFileSync(bin)).slice(0, 16)}`, () => [
    { kind: "file", path: "bin/prometheus", source: bin, mode: 0o755 },
    ...sharedLibraries(bin),
    { kind: "content", path: "etc/passwd", content: "nobody:x:65534:65534::/prometheus:/sbin/nologin\n" },
    { kind: "content", path: "etc/group", content: "nogroup:x:65534:\n" },
    { kind: "content", path: "etc/nsswitch.conf", content: "hosts: files dns\n" },
    { kind: "dir", path: "prometheus", mode: 0o1777 },
    { kind: "dir", path: "tmp", mode: 0o1777 },
  ]);
  const config: ImageConfig = {
    env: {},
    cmd: [],
    entrypoint: ["/bin/prometheus"],
    workingDir: "/prometheus",
    user: "65534:65534",
  };
  return writeImageArchive(`${IMAGE_REPOSITORY}/prometheus`, config, [layer], join(dir, "prometheus.oci.tar"));
}

/**
 * Node alone (the services' runtime layer, shared with their images), for small in-cluster helpers whose script
 * comes from a ConfigMap: the Prometheus pod's discovery sidecar (node/prometheus-sd.mjs).
 */
export async function buildNodeRuntimeImage(dir: string): Promise<BuiltImage> {
  mkdirSync(dir, { recursive: true });
  const node = realpathSync(process.execPath);
  const runtime = await cachedLayer(dir, `runtime-${sha(readFileSync(node)).slice(0, 16)}`, runtimeEntries);
  const config: ImageConfig = {
    env: { PATH: "/usr/local/bin:/usr/bin:/bin" },
    cmd: [],
    entrypoint: ["/usr/local/bin/node"],
    workingDir: "/",
    user: `${SERVICE_IMAGE.uid}:${SERVICE_IMAGE.uid}`,
  };
  return writeImageArchive(`${IMAGE_REPOSITORY}/node-runtime`, config, [runtime], join(dir, "node-runtime.oci.tar"));
}

/** Node and the shared libraries it loads (ldd), at their paths, plus the files a process expects. */
function runtimeEntries(): LayerEntry[] {
  const node = realpathSync(process.execPath);
  const libs = run("ldd", [node], REPO_ROOT, "list Node's libraries")
    .split("\n")
    .map((line) => /(\/\S+) \(0x/.exec(line)?.[1])
    .filter((p): p is string => p !== undefined);
  const entries: LayerEntry[] = [{ kind: "file", path: "usr/local/bin/node", source: node, mode: 0o755 }];
  for (const lib of libs) {
    entries.push({ kind: "file", path: lib, source: realpathSync(lib), mode: 0o755 });
  }
  entries.push(
    {
      kind: "content",
      path: "etc/passwd",
      content: "root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000::/home/node:/sbin/nologin\n",
    },
    { kind: "content", path: "etc/group", content: "root:x:0:\nnode:x:1000:\n" },
    { kind: "content", path: "etc/nsswitch.conf", content: "passwd: files\ngroup: files\nhosts: files dns\n" },
    { kind: "dir", path: "tmp", mode: 0o1777 },
    { kind: "dir", path: "home/node", mode: 0o755 },
  );
  return entries;
}

/** The production dependencies of services/package.json, installed once per lock file into the cache. */
function productionModules(dir: string): { key: string; modules: string } {
  const lock = readFileSync(join(REPO_ROOT, "services", "package-lock.json"));
  const key = sha(Buffer.concat([lock, readFileSync(join(REPO_ROOT, "services", "package.json"))])).slice(0, 16);
  const work = join(dir, "deps", key);
  const modules = join(work, "node_modules");
  if (!existsSync(join(work, ".done"))) {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    cpSync(join(REPO_ROOT, "services", "package.json"), join(work, "package.json"));
    cpSync(join(REPO_ROOT, "services", "package-lock.json"), join(work, "package-lock.json"));
    run(
      "npm",
      ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"],
      work,
      "install the services' dependencies",
    );
    cpSync(join(REPO_ROOT, "services", "package.json"), join(work, ".done"));
  }
  return { key, modules };
}

/** Compiles the services (as the Dockerfile's build stage) into `<dir>/dist`. */
function compileServices(dir: string): string {
  const out = join(dir, "dist");
  rmSync(out, { recursive: true, force: true });
  run(
    join(REPO_ROOT, "node_modules", ".bin", "tsc"),
    ["-p", join(REPO_ROOT, "services", "tsconfig.build.json"), "--outDir", out],
    REPO_ROOT,
    "compile the services",
  );
  return join(out, "services");
}

/** A digest of a directory's files (names and contents), for layer cache keys. */
function treeKey(dir: string): string {
  const h = createHash("sha256");
  for (const rel of (readdirSync(dir, { recursive: true }) as string[]).sort()) {
    const f = join(dir, rel);
    if (statSync(f).isFile()) h.update(`${rel}\0`).update(readFileSync(f));
  }
  return h.digest("hex").slice(0, 16);
}

export interface ServiceImages {
  images: Record<ServiceName, BuiltImage>;
  seconds: number;
}

/** Builds the three service images; layers shared by all three (runtime, dependencies, code) are written once. */
export async function buildServiceImages(dir: string): Promise<ServiceImages> {
  const t0 = Date.now();
  mkdirSync(dir, { recursive: true });
  const node = realpathSync(process.execPath);
  const runtime = await cachedLayer(dir, `runtime-${sha(readFileSync(node)).slice(0, 16)}`, runtimeEntries);
  const deps = productionModules(dir);
  const depsLayer = await cachedLayer(dir, `deps-${deps.key}`, () => tree(deps.modules, "app/node_modules"));
  const compiled = compileServices(dir);
  const migrations = join(REPO_ROOT, "services", "migrations");
  const appKey = sha(
    `${treeKey(compiled)}${treeKey(migrations)}${sha(readFileSync(join(REPO_ROOT, "services", "package.json")))}`,
  ).slice(0, 16);
  const app = await cachedLayer(dir, `app-${appKey}`, () => [
    ...tree(compiled, "app/services").filter((e) => !relative("app/services", e.path).startsWith("migrations")),
    ...tree(migrations, "app/services/migrations"),
    { kind: "file", path: "app/package.json", source: join(REPO_ROOT, "services", "package.json") },
  ]);
  const images = {} as Record<ServiceName, BuiltImage>;
  for (const svc of SERVICES) {
    const config: ImageConfig = {
      env: { PATH: "/usr/local/bin:/usr/bin:/bin", ...SERVICE_IMAGE.env },
      cmd: SERVICE_IMAGE.cmd(svc),
      workingDir: SERVICE_IMAGE.workdir,
      user: `${SERVICE_IMAGE.uid}:${SERVICE_IMAGE.uid}`,
      exposedPorts: [SERVICE_IMAGE.port],
      labels: { "org.opencontainers.image.title": `im-${svc}` },
    };
    images[svc] = await writeImageArchive(
      `${IMAGE_REPOSITORY}/${svc}`,
      config,
      [runtime, depsLayer, app],
      join(dir, `${svc}.oci.tar`),
    );
  }
  return { images, seconds: (Date.now() - t0) / 1000 };
}
