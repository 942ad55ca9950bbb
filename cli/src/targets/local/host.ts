/**
 * What the local target knows about the machine it runs on, for the daily health check (`imctl doctor`): the
 * filesystem its state directory lives on (every component's data and logs), and its TLS endpoints (none: every
 * local listener is plain TCP on the loopback address).
 */
import { existsSync } from "node:fs";
import { statfs } from "node:fs/promises";
import { dirname } from "node:path";
import { presentedCertificate } from "../../lib/tls.ts";
import type { CertificateFact, DataFilesystem, TlsEndpoint } from "../target.ts";

export async function stateDirFilesystem(dir: string): Promise<DataFilesystem[]> {
  // A health check creates nothing: before the first `up`, measure the filesystem the directory will live on.
  let at = dir;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  const s = await statfs(at);
  return [{ what: `state dir ${dir}`, freeBytes: s.bavail * s.bsize, sizeBytes: s.blocks * s.bsize }];
}

/** The local target serves no TLS: Redis, Kafka, MariaDB, nginx and the services all listen in plain text. */
export async function localTlsEndpoints(): Promise<TlsEndpoint[]> {
  return [];
}

/** The certificate each endpoint presents now; one that does not answer is a fact with its error. */
export async function localCertificateFacts(): Promise<CertificateFact[]> {
  const endpoints = await localTlsEndpoints();
  return Promise.all(
    endpoints.map(async (ep): Promise<CertificateFact> => {
      const endpoint = `${ep.name} ${ep.host}:${ep.port}`;
      try {
        const c = await presentedCertificate(ep);
        return { endpoint, validTo: c.validTo, trusted: c.trusted };
      } catch (err) {
        return { endpoint, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}
