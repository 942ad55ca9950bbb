/**
 * What the local target knows about the machine it runs on, for the daily health check (`imctl doctor`): the
 * filesystem its state directory lives on (every component's data and logs), and its TLS endpoints (none: every
 * local listener is plain TCP on the loopback address).
 */
import { existsSync } from "node:fs";
import { statfs } from "node:fs/promises";
import { dirname } from "node:path";
import type { DataFilesystem, TlsEndpoint } from "../target.ts";

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
