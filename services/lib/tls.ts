/**
 * TLS to the data tier. In the clouds every hop is encrypted (ElastiCache and Tair with transit encryption, MSK's
 * TLS listener, TiDB with TLS): the services turn it on per dependency with `<DEP>_TLS=true`, trusting the system's
 * CAs, or only the CA in `<DEP>_TLS_CA_FILE` when the dependency has its own (TiDB Operator, Strimzi). Certificates
 * are always verified; there is no switch to turn that off.
 */
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import { ConfigError } from "./config.ts";

/** Node TLS options for a client, or undefined when TLS is off. Reads the CA file once, at start-up. */
export function tlsOptions(name: string, enabled: boolean, caFile: string | undefined): ConnectionOptions | undefined {
  if (!enabled) {
    if (caFile !== undefined)
      throw new ConfigError(
        `config: ${name}_TLS_CA_FILE: got ${JSON.stringify(caFile)}; set only with ${name}_TLS=true`,
      );
    return undefined;
  }
  if (caFile === undefined) return { rejectUnauthorized: true };
  try {
    return { rejectUnauthorized: true, ca: readFileSync(caFile, "utf8") };
  } catch (err) {
    throw new ConfigError(
      `config: ${name}_TLS_CA_FILE: got ${JSON.stringify(caFile)}; ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : "not readable"}`,
    );
  }
}
