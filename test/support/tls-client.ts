/**
 * TLS clients for tests: an https request trusting a test CA, and the certificate a fresh TLS
 * connection is served.
 */
import { request } from 'node:https';
import { connect } from 'node:tls';

export interface HttpsReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One https request trusting `ca`, bounded by `timeoutMs`; no connection reuse. */
export function httpsRequest(url: string, ca: Buffer | Buffer[], init: { method?: string; headers?: Record<string, string>; body?: string } = {}, timeoutMs = 5000): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers, ca, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`https request to ${url} timed out`)));
    req.on('error', reject);
    req.end(init.body);
  });
}

/** The SHA-256 fingerprint of the certificate a new TLS connection to `port` is served (verified against `ca`). */
export function servedFingerprint(port: number, ca: Buffer | Buffer[], timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, timeout: timeoutMs }, () => {
      const fingerprint = socket.getPeerX509Certificate()?.fingerprint256;
      socket.destroy();
      if (fingerprint) resolve(fingerprint);
      else reject(new Error('no peer certificate'));
    });
    socket.on('timeout', () => socket.destroy(new Error('TLS connect timed out')));
    socket.on('error', reject);
  });
}
