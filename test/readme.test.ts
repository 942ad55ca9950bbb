/**
 * The README is a front page: at most 8 KB, with the two set-up commands a fresh clone needs, and every link to a
 * file in the repository pointing at one that exists.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = join(fileURLToPath(import.meta.url), "..", "..");
const readme = readFileSync(join(root, "README.md"), "utf8");

describe("the README", () => {
  it("stays a front page of at most 8 KB (detail lives in docs/ and runbooks/)", () => {
    const bytes = Buffer.byteLength(readme);
    assert.ok(bytes <= 8192, `README.md is ${bytes} bytes; at most 8,192 (move detail into docs/)`);
  });

  it("names the two set-up commands", () => {
    assert.match(readme, /^npm start\b/m);
    assert.match(readme, /^npm test\b/m);
  });

  it("links only to files that exist", () => {
    const links = [...readme.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)].map((m) => m[1]!).filter((l) => !/^\w+:/.test(l));
    assert.ok(links.length > 5, "the README links to its docs");
    const missing = links.filter((l) => !existsSync(join(root, l)));
    assert.deepEqual(missing, [], `README links to missing files: ${missing.join(", ")}`);
  });
});
