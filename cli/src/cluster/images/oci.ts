/**
 * OCI image archives written without Docker or a base image: each layer is a tar of files taken from this machine
 * (entries sorted, owned by root, mtime 0, so the same files give the same digest), and the archive is an OCI image
 * layout (`oci-layout`, `index.json`, `blobs/sha256/...`) that `ctr images import` reads. The image is tagged by its
 * manifest's digest, so a tag names exactly one content.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, lstatSync, readlinkSync, statSync } from "node:fs";
import { mkdir, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { pipeline } from "node:stream/promises";
import { PassThrough, Transform } from "node:stream";
import { pack, type Pack } from "tar-stream";

/** One entry of a layer: a file or symlink copied from `source`, a directory, or a file with given content. */
export type LayerEntry =
  | { kind: "file"; path: string; source: string; mode?: number }
  | { kind: "content"; path: string; content: string | Buffer; mode?: number }
  | { kind: "dir"; path: string; mode?: number }
  | { kind: "symlink"; path: string; target: string };

export interface Blob {
  digest: string;
  size: number;
  file: string;
}

export interface ImageConfig {
  env: Record<string, string>;
  cmd: string[];
  entrypoint?: string[];
  workingDir: string;
  /** Numeric `uid:gid`, so `runAsNonRoot` can be verified by the kubelet. */
  user: string;
  exposedPorts?: number[];
  labels?: Record<string, string>;
}

export interface BuiltImage {
  /** `<repository>:<tag>`, the tag being the first 12 hex digits of the manifest digest. */
  ref: string;
  manifestDigest: string;
  configDigest: string;
  layers: Blob[];
  /** The archive `ctr images import` takes. */
  archive: string;
  sizeBytes: number;
}

const LAYER_MEDIA = "application/vnd.oci.image.layer.v1.tar";
const CONFIG_MEDIA = "application/vnd.oci.image.config.v1+json";
const MANIFEST_MEDIA = "application/vnd.oci.image.manifest.v1+json";
const EPOCH = new Date(0);

/** Strips a leading slash: tar paths are relative to the image's root. */
const rel = (p: string): string => p.replace(/^\/+/, "");

/** Adds every parent directory of every entry (a tar without them still unpacks, but some importers warn). */
export function withParents(entries: LayerEntry[]): LayerEntry[] {
  const dirs = new Set(entries.filter((e) => e.kind === "dir").map((e) => rel(e.path)));
  const extra: LayerEntry[] = [];
  for (const e of entries) {
    const parts = rel(e.path).split("/");
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join("/");
      if (!dirs.has(d)) {
        dirs.add(d);
        extra.push({ kind: "dir", path: d });
      }
    }
  }
  return [...extra, ...entries];
}

function entryOf(p: Pack, e: LayerEntry): Promise<void> {
  const base = { name: rel(e.path), mtime: EPOCH, uid: 0, gid: 0, uname: "root", gname: "root" };
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null) => (err ? reject(err) : resolve());
    switch (e.kind) {
      case "dir":
        p.entry({ ...base, type: "directory", mode: e.mode ?? 0o755 }, done);
        return;
      case "symlink":
        p.entry({ ...base, type: "symlink", linkname: e.target, mode: 0o777 }, done);
        return;
      case "content": {
        const buf = typeof e.content === "string" ? Buffer.from(e.content) : e.content;
        p.entry({ ...base, type: "file", mode: e.mode ?? 0o644, size: buf.length }, buf, done);
        return;
      }
      case "file": {
        const st = lstatSync(e.source);
        if (st.isSymbolicLink()) {
          p.entry({ ...base, type: "symlink", linkname: readlinkSync(e.source), mode: 0o777 }, done);
          return;
        }
        const size = statSync(e.source).size;
        const sink = p.entry({ ...base, type: "file", mode: e.mode ?? (st.mode & 0o111 ? 0o755 : 0o644), size }, done);
        createReadStream(e.source).on("error", reject).pipe(sink);
        return;
      }
    }
  });
}

/** Hashes what passes through it. */
function hasher(): { stream: Transform; digest: () => string; size: () => number } {
  const h = createHash("sha256");
  let n = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      n += chunk.length;
      cb(null, chunk);
    },
  });
  return { stream, digest: () => `sha256:${h.digest("hex")}`, size: () => n };
}

/** Writes one layer (uncompressed tar) to `file`; entries are sorted by path, parents first. */
export async function writeLayer(entries: LayerEntry[], file: string): Promise<Blob> {
  await mkdir(dirname(file), { recursive: true });
  const sorted = withParents(entries).sort((a, b) =>
    rel(a.path) < rel(b.path) ? -1 : rel(a.path) > rel(b.path) ? 1 : 0,
  );
  const seen = new Set<string>();
  for (const e of sorted) {
    if (seen.has(rel(e.path))) throw new Error(`layer ${file}: the path ${rel(e.path)} is listed twice`);
    seen.add(rel(e.path));
  }
  const p = pack();
  const h = hasher();
  const tmp = `${file}.tmp`;
  const written = pipeline(p, h.stream, createWriteStream(tmp));
  for (const e of sorted) await entryOf(p, e);
  p.finalize();
  await written;
  await rename(tmp, file);
  return { digest: h.digest(), size: h.size(), file };
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const sha = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** The image config (OCI image spec `config`), with the layers' diff ids (their digests: layers are uncompressed). */
export function imageConfig(c: ImageConfig, layers: Blob[]): Buffer {
  return json({
    architecture: "amd64",
    os: "linux",
    created: EPOCH.toISOString(),
    config: {
      User: c.user,
      Env: Object.entries(c.env).map(([k, v]) => `${k}=${v}`),
      ...(c.entrypoint ? { Entrypoint: c.entrypoint } : {}),
      Cmd: c.cmd,
      WorkingDir: c.workingDir,
      ...(c.exposedPorts?.length
        ? { ExposedPorts: Object.fromEntries(c.exposedPorts.map((port) => [`${port}/tcp`, {}])) }
        : {}),
      ...(c.labels ? { Labels: c.labels } : {}),
    },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
  });
}

/** Writes the OCI image layout archive of `layers` + `config` and names the image `<repository>:<digest prefix>`. */
export async function writeImageArchive(
  repository: string,
  config: ImageConfig,
  layers: Blob[],
  archive: string,
): Promise<BuiltImage> {
  const cfg = imageConfig(config, layers);
  const configDigest = sha(cfg);
  const manifest = json({
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA,
    config: { mediaType: CONFIG_MEDIA, digest: configDigest, size: cfg.length },
    layers: layers.map((l) => ({ mediaType: LAYER_MEDIA, digest: l.digest, size: l.size })),
  });
  const manifestDigest = sha(manifest);
  const tag = manifestDigest.slice("sha256:".length, "sha256:".length + 12);
  const ref = `${repository}:${tag}`;
  const index = json({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      {
        mediaType: MANIFEST_MEDIA,
        digest: manifestDigest,
        size: manifest.length,
        annotations: { "io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag },
      },
    ],
  });
  const blob = (d: string) => `blobs/sha256/${d.slice("sha256:".length)}`;
  const entries: LayerEntry[] = [
    { kind: "content", path: "oci-layout", content: JSON.stringify({ imageLayoutVersion: "1.0.0" }) },
    { kind: "content", path: "index.json", content: index },
    { kind: "content", path: blob(manifestDigest), content: manifest },
    { kind: "content", path: blob(configDigest), content: cfg },
    ...dedupe(layers).map((l): LayerEntry => ({ kind: "file", path: blob(l.digest), source: l.file, mode: 0o644 })),
  ];
  await mkdir(dirname(archive), { recursive: true });
  const p = pack();
  const tmp = `${archive}.tmp`;
  const written = pipeline(p, new PassThrough(), createWriteStream(tmp));
  for (const e of withParents(entries)) await entryOf(p, e);
  p.finalize();
  await written;
  await rename(tmp, archive);
  return {
    ref,
    manifestDigest,
    configDigest,
    layers,
    archive,
    sizeBytes: layers.reduce((n, l) => n + l.size, 0),
  };
}

function dedupe(layers: Blob[]): Blob[] {
  const seen = new Set<string>();
  return layers.filter((l) => (seen.has(l.digest) ? false : (seen.add(l.digest), true)));
}
