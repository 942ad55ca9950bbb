/**
 * A Secret's `data` from plain values: each base64-encoded and a Pulumi secret. The program writes `data`, never
 * `stringData`: under server-side apply the API server moves `stringData` into `data` and keeps no record of it, so
 * a Secret declared with `stringData` can show a diff (or a replacement) on every run, and a second `up` would not
 * be a no-op (kubernetes/website#43668, pulumi-kubernetes#2507).
 */
import * as pulumi from "@pulumi/pulumi";

export function secretData(values: Record<string, pulumi.Input<string>>): Record<string, pulumi.Output<string>> {
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => [
      key,
      pulumi.secret(pulumi.output(value).apply((v) => Buffer.from(v, "utf8").toString("base64"))),
    ]),
  );
}

/** The plain value of one `data` entry (tests and checks read what the program declared). */
export function decodeSecretData(encoded: string): string {
  return Buffer.from(encoded, "base64").toString("utf8");
}
