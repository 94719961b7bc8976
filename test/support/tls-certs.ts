/**
 * Certificates made by `openssl` for TLS tests: a self-signed P-256 pair for localhost and
 * 127.0.0.1 written into a temp directory, which the test uses as its own CA.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface CertPair {
  certFile: string;
  keyFile: string;
  /** The certificate PEM: pass it as `ca` to trust it. */
  cert: Buffer;
  fingerprint256: string;
  serial: string;
}

/** A temp directory for certificate files; `remove()` deletes it. */
export function certDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'tickhub-tls-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Write `<name>.crt` and `<name>.key` in `dir` (overwriting) with a new self-signed pair.
 *
 * @example
 * const pair = makeCertPair(dir, 'hub');
 * startHub(testConfig({ tlsCertFile: pair.certFile, tlsKeyFile: pair.keyFile }));
 */
export function makeCertPair(dir: string, name: string): CertPair {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 },
  );
  const cert = readFileSync(certFile);
  const x509 = new X509Certificate(cert);
  return { certFile, keyFile, cert, fingerprint256: x509.fingerprint256, serial: x509.serialNumber };
}
