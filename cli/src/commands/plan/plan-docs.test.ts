/**
 * docs/cloud-stacks.md shows an abbreviated `imctl plan --stack aws-prod`. Its figures drift whenever the program
 * gains a resource (it said 211 when the plan printed 225), so this holds the sample to the real rendering: the
 * header, each layer's count, every "N x type" line under its layer, and every other line written out in full (the
 * CIDR plan, the cost lines, the total). A line with "..." only keeps its layer's name and count.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../../../../base/root.mjs";
import { plan, renderPlan } from "./index.ts";

const LAYER = /^([a-z]+) \((\d+)\)/;

/** The lines of the docs' sample, from its header to the end of its fenced block. */
function docsSample(stack: string): string[] {
  const text = readFileSync(join(REPO_ROOT, "docs", "cloud-stacks.md"), "utf8");
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.startsWith(`plan for stack ${stack} `));
  assert.ok(start >= 0, `docs/cloud-stacks.md has no sample of imctl plan --stack ${stack}`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith("```"));
  return lines.slice(start, end).map((l) => l.trimEnd());
}

/** Each line of a rendering with the layer it sits under ("" before the first). */
function byLayer(lines: string[]): { layer: string; line: string }[] {
  let layer = "";
  return lines.map((line) => {
    const m = LAYER.exec(line);
    if (m !== null) layer = m[1] ?? "";
    else if (line !== "" && !line.startsWith(" ")) layer = "";
    return { layer, line };
  });
}

describe("docs/cloud-stacks.md: the imctl plan sample", () => {
  it("matches what imctl plan --stack aws-prod prints, figure for figure", async () => {
    const real = renderPlan(await plan({ stack: "aws-prod" }))
      .split("\n")
      .map((l) => l.trimEnd());
    const realLines = new Set(byLayer(real).map((x) => `${x.layer}|${x.line}`));
    const realLayers = new Map(real.flatMap((l) => (LAYER.exec(l) === null ? [] : [[LAYER.exec(l)?.[1], l]])));
    const wrong: string[] = [];
    for (const { layer, line } of byLayer(docsSample("aws-prod"))) {
      if (line === "" || line.trim() === "...") continue;
      const m = LAYER.exec(line);
      if (m !== null) {
        const counted = LAYER.exec(realLayers.get(m[1]) ?? "");
        if (counted?.[2] !== m[2]) wrong.push(`${line.slice(0, 40)} (plan: ${counted?.[0] ?? "no such layer"})`);
        continue;
      }
      if (line.includes("...")) continue;
      if (!realLines.has(`${layer}|${line}`)) wrong.push(layer === "" ? line : `${layer}: ${line}`);
    }
    assert.deepEqual(wrong, [], "lines of the docs' sample that imctl plan does not print (update the sample)");
  });
});
