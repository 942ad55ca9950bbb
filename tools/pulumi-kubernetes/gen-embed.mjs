#!/usr/bin/env node
// Writes the two files main.go embeds, from the provider module's own schema.json and terraform-mapping.json (what
// upstream's `go generate` does): run in this folder after `go mod download`, before `go build`.
// Usage: node gen-embed.mjs <version, e.g. 4.34.2>
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const version = process.argv[2];
if (!version) throw new Error("usage: node gen-embed.mjs <provider version, e.g. 4.34.2>");
const mod = JSON.parse(
  execFileSync("go", ["list", "-m", "-json", "github.com/pulumi/pulumi-kubernetes/provider/v4"], { encoding: "utf8" }),
);
const cmd = join(mod.Dir, "cmd", "pulumi-resource-kubernetes");
const schema = JSON.parse(readFileSync(join(cmd, "schema.json"), "utf8"));
// The SDK (@pulumi/kubernetes) asks the engine for this version of the plugin; the schema must say the same.
schema.version = version;
writeFileSync("schema-embed.json", JSON.stringify(schema));
writeFileSync(
  "terraform-mapping-embed.json",
  JSON.stringify(JSON.parse(readFileSync(join(cmd, "terraform-mapping.json"), "utf8"))),
);
