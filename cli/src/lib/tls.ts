/**
 * Reads the certificate a TLS endpoint presents, for the certificate-expiry check of `imctl doctor`. The chain is
 * not verified here (a self-signed or internal CA certificate still expires); whether it is trusted is reported.
 */
import { connect } from "node:tls";
import type { TlsEndpoint } from "../targets/target.ts";

export interface PresentedCertificate {
  subject: string;
  validTo: Date;
  /** Whether the chain verified against the system's trust store. */
  trusted: boolean;
}

export function presentedCertificate(ep: TlsEndpoint, timeoutMs = 5000): Promise<PresentedCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: ep.host,
      port: ep.port,
      servername: ep.servername ?? ep.host,
      rejectUnauthorized: false,
      timeout: timeoutMs,
    });
    const fail = (err: Error) => {
      socket.destroy();
      reject(new Error(`${ep.name} (${ep.host}:${ep.port}): ${err.message}`));
    };
    socket.once("error", fail);
    socket.once("timeout", () => fail(new Error(`no TLS handshake within ${timeoutMs} ms`)));
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate();
      socket.end();
      if (!cert.valid_to) return reject(new Error(`${ep.name} (${ep.host}:${ep.port}): presented no certificate`));
      resolve({
        subject: String(cert.subject?.CN ?? ep.host),
        validTo: new Date(cert.valid_to),
        trusted: socket.authorized,
      });
    });
  });
}
