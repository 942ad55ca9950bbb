import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { extract } from "tar-stream";
import { REPO_ROOT } from "../../../../base/root.mjs";
import { SERVICE_IMAGE, SERVICES } from "./build.ts";
import { imageConfig, writeImageArchive, writeLayer } from "./oci.ts";

const dir = mkdtempSync(join(tmpdir(), "imctl-oci-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Every entry of a tar: name, type, mode, uid, mtime, and the content of small files. */
async function entries(file: string) {
  const out: Array<{ name: string; type: string; mode: number; uid: number; mtime: number; text?: string }> = [];
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on("entry", (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Buffer));
      stream.on("end", () => {
        const body = Buffer.concat(chunks);
        out.push({
          name: h.name,
          type: h.type ?? "file",
          mode: h.mode ?? 0,
          uid: h.uid ?? -1,
          mtime: h.mtime?.getTime() ?? -1,
          ...(body.length < 4096 ? { text: body.toString() } : {}),
        });
        next();
      });
      stream.resume();
    });
    ex.on("finish", resolve);
    ex.on("error", reject);
  });
  ex.end(readFileSync(file));
  await done;
  return out;
}

/** The instructions of the final stage of a Dockerfile (after its last FROM). */
function finalStage(file: string): string[] {
  const lines = readFileSync(file, "utf8")
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const last = lines.map((l) => l.startsWith("FROM ")).lastIndexOf(true);
  return lines.slice(last + 1);
}

describe("OCI layers and archives (images without Docker)", () => {
  it("writes the same digest for the same files, entries sorted, parents first, root-owned and dated 1970", async () => {
    const src = join(dir, "hello.txt");
    writeFileSync(src, "hello\n");
    const files = [
      { kind: "file" as const, path: "app/z/hello.txt", source: src },
      { kind: "content" as const, path: "app/a.txt", content: "a" },
    ];
    const one = await writeLayer(files, join(dir, "one.tar"));
    const two = await writeLayer([...files].reverse(), join(dir, "two.tar"));
    assert.equal(one.digest, two.digest);
    const list = await entries(one.file);
    assert.deepEqual(
      list.map((e) => e.name),
      ["app", "app/a.txt", "app/z", "app/z/hello.txt"],
    );
    assert.ok(list.every((e) => e.uid === 0 && e.mtime === 0));
    await assert.rejects(
      writeLayer([...files, { kind: "content", path: "/app/a.txt", content: "b" }], join(dir, "dup.tar")),
      /app\/a.txt is listed twice/,
    );
  });

  it("names the image by its manifest digest in an OCI layout that ctr imports", async () => {
    const layer = await writeLayer([{ kind: "content", path: "x", content: "x" }], join(dir, "l.tar"));
    const cfg = { env: { A: "1" }, cmd: ["/x"], workingDir: "/", user: "1000:1000" };
    const img = await writeImageArchive("imctl.local/test", cfg, [layer], join(dir, "img.oci.tar"));
    assert.match(img.ref, /^imctl\.local\/test:[0-9a-f]{12}$/);
    assert.equal(img.ref.split(":")[1], img.manifestDigest.slice(7, 19));
    const list = await entries(img.archive);
    const index = JSON.parse(list.find((e) => e.name === "index.json")?.text ?? "{}");
    assert.equal(index.manifests[0].annotations["io.containerd.image.name"], img.ref);
    assert.equal(index.manifests[0].digest, img.manifestDigest);
    assert.ok(list.some((e) => e.name === `blobs/sha256/${layer.digest.slice(7)}`));
    const config = JSON.parse(imageConfig(cfg, [layer]).toString());
    assert.deepEqual(config.rootfs.diff_ids, [layer.digest]);
    assert.equal(config.config.User, "1000:1000");
  });
});

describe("the services' images agree with their Dockerfiles", () => {
  for (const svc of SERVICES) {
    it(`${svc}: same environment, directory, user, files and command`, () => {
      const stage = finalStage(join(REPO_ROOT, "services", svc, "Dockerfile"));
      const env = stage.find((l) => l.startsWith("ENV "))?.slice(4) ?? "";
      const envPairs = Object.fromEntries(env.split(/\s+/).map((kv) => kv.split("=") as [string, string]));
      assert.deepEqual(envPairs, SERVICE_IMAGE.env);
      assert.ok(stage.includes(`WORKDIR ${SERVICE_IMAGE.workdir}`));
      // The base image's `node` user is uid 1000; ours is written as a number (runAsNonRoot can verify it).
      assert.ok(stage.includes("USER node"));
      assert.equal(SERVICE_IMAGE.uid, 1000);
      assert.ok(stage.includes(`EXPOSE ${SERVICE_IMAGE.port}`));
      const cmd = stage.find((l) => l.startsWith("CMD "));
      assert.deepEqual(JSON.parse(cmd?.slice(4) ?? "[]"), SERVICE_IMAGE.cmd(svc));
      const copies = stage.filter((l) => l.startsWith("COPY ")).map((l) => l.split(/\s+/).slice(-2).join(" "));
      assert.deepEqual(copies, [
        "/app/node_modules ./node_modules",
        "/src/dist/services ./services",
        "services/migrations ./services/migrations",
        "services/package.json ./package.json",
      ]);
    });
  }
});
