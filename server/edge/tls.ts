/**
 * TLS without a proxy: TLS_CERT_FILE and TLS_KEY_FILE read, checked and described. The pair is
 * checked by Node itself (`tls.createSecureContext`), so an unreadable file, a PEM that does not
 * parse or a key that does not match the certificate stops the hub at start (or is refused on a
 * SIGHUP reload, keeping the old pair) with Node's reason and the variable names.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

/** A certificate (chain) and its private key, PEM, as read from TLS_CERT_FILE / TLS_KEY_FILE. */
export interface TlsPair {
  cert: Buffer;
  key: Buffer;
}

/** What the logs say about a certificate: enough to tell which one is being served. */
export interface CertificateInfo {
  subject: string;
  issuer: string;
  serial: string;
  fingerprint256: string;
  validTo: string;
}

/**
 * Read both files and check that Node accepts them as a pair. Throws an Error whose message
 * names TLS_CERT_FILE / TLS_KEY_FILE, the file and Node's reason.
 *
 * @example
 * const pair = readTlsPair(config.tlsCertFile, config.tlsKeyFile);
 * https.createServer({ ...pair }, handler);
 */
export function readTlsPair(certFile: string, keyFile: string): TlsPair {
  const cert = readPem('TLS_CERT_FILE', certFile);
  const key = readPem('TLS_KEY_FILE', keyFile);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`TLS_CERT_FILE (${certFile}) and TLS_KEY_FILE (${keyFile}) are not a usable certificate and key: ${(err as Error).message}`);
  }
  return { cert, key };
}

function readPem(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${variable}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * The leaf certificate of a pair (the first in the chain file), for the logs.
 *
 * @example
 * log.info(describeCertificate(pair.cert), 'TLS certificate loaded');
 */
export function describeCertificate(cert: Buffer): CertificateInfo {
  const x509 = new X509Certificate(cert);
  return { subject: x509.subject, issuer: x509.issuer, serial: x509.serialNumber, fingerprint256: x509.fingerprint256, validTo: x509.validTo };
}
