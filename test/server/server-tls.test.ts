/**
 * TLS without a proxy (TLS_CERT_FILE / TLS_KEY_FILE): real hubs serving https and wss with
 * certificates made by openssl in the test, real TLS clients trusting them as the CA.
 */
import { copyFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../server/config.ts';
import { startHub, type RunningHub } from '../../server/server.ts';
import { certDir, makeCertPair, type CertPair } from '../support/tls-certs.ts';
import { httpsRequest, servedFingerprint } from '../support/tls-client.ts';
import { until } from '../support/until.ts';
import { openSocket } from '../support/ws-client.ts';

const dir = certDir();
afterAll(() => dir.remove());
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

type Line = Record<string, unknown> & { msg: string; level: number };

let n = 0;
/** A TLS hub on its own fresh pair (files `hub-N.crt/.key`), its log lines in `lines`. */
async function tlsHub(): Promise<{ running: RunningHub; pair: CertPair; lines: Line[] }> {
  const pair = makeCertPair(dir.dir, `hub-${++n}`);
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const text of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  const running = await startHub(testConfig({ tlsCertFile: pair.certFile, tlsKeyFile: pair.keyFile }), { log: pino({ level: 'info' }, sink) });
  cleanups.push(() => running.close());
  return { running, pair, lines };
}

describe('startHub', () => {
  describe('over TLS', () => {
    let other: CertPair;
    beforeAll(() => {
      other = makeCertPair(dir.dir, 'other');
    });

    it('serves https: /healthz to a client trusting the test CA, with HSTS; https:// and wss:// URLs', async () => {
      const { running, pair } = await tlsHub();
      expect(running.httpUrl).toBe(`https://127.0.0.1:${running.port}`);
      expect(running.wsUrl).toBe(`wss://127.0.0.1:${running.port}/ws`);
      const reply = await httpsRequest(`${running.httpUrl}/healthz`, pair.cert);
      expect(reply.status).toBe(200);
      expect(reply.headers['strict-transport-security']).toBe('max-age=15552000; includeSubDomains');
      expect(reply.headers['x-content-type-options']).toBe('nosniff');
    });

    it('refuses a client that does not trust the certificate', async () => {
      const { running } = await tlsHub();
      await expect(httpsRequest(`${running.httpUrl}/healthz`, other.cert)).rejects.toThrow(/self[- ]signed|verify|certificate/i);
    });

    it('does not let plain http through to the TLS port', async () => {
      const { running } = await tlsHub();
      const plain = fetch(`http://127.0.0.1:${running.port}/healthz`, { signal: AbortSignal.timeout(5000) });
      await expect(plain).rejects.toThrow();
    });

    it('serves a wss tap that receives messages', async () => {
      const { running, pair } = await tlsHub();
      const tap = await openSocket(`${running.wsUrl}/tls.*`, undefined, { ca: pair.cert });
      cleanups.push(() => tap.close());
      await running.hub.publish('tls.a', { n: 1 });
      expect(await tap.nextJson((f) => f.topic === 'tls.a')).toMatchObject({ topic: 'tls.a', data: { n: 1 } });
    });

    it('accepts the browser origin https://127.0.0.1:<port> for the upgrade and refuses http://', async () => {
      const { running, pair } = await tlsHub();
      const tap = await openSocket(`${running.wsUrl}/tls.*`, undefined, { ca: pair.cert, origin: `https://127.0.0.1:${running.port}` });
      cleanups.push(() => tap.close());
      await expect(openSocket(`${running.wsUrl}/tls.*`, undefined, { ca: pair.cert, origin: `http://127.0.0.1:${running.port}` })).rejects.toThrow(/403/);
    });

    it('#reloadTls: new connections get the new certificate, an open wss connection keeps receiving', async () => {
      const { running, pair, lines } = await tlsHub();
      const tap = await openSocket(`${running.wsUrl}/tls.*`, undefined, { ca: pair.cert });
      cleanups.push(() => tap.close());
      const name = pair.certFile.slice(pair.certFile.lastIndexOf('/') + 1, -'.crt'.length);
      const next = makeCertPair(dir.dir, name); // overwrite the files in place
      expect(next.fingerprint256).not.toBe(pair.fingerprint256);
      expect(await servedFingerprint(running.port, pair.cert)).toBe(pair.fingerprint256);
      await running.reloadTls();
      expect(await servedFingerprint(running.port, next.cert)).toBe(next.fingerprint256);
      expect((await httpsRequest(`${running.httpUrl}/healthz`, next.cert)).status).toBe(200);
      await running.hub.publish('tls.after', { reloaded: true });
      expect(await tap.nextJson((f) => f.topic === 'tls.after')).toMatchObject({ data: { reloaded: true } });
      expect(lines.find((l) => l.msg === 'TLS certificate reloaded')).toMatchObject({ certificate: { serial: next.serial, fingerprint256: next.fingerprint256 } });
    });

    it('#reloadTls: a key that does not match keeps the old pair and logs an error naming the variables', async () => {
      const { running, pair, lines } = await tlsHub();
      copyFileSync(other.keyFile, pair.keyFile);
      await expect(running.reloadTls()).rejects.toThrow(/TLS_CERT_FILE.*TLS_KEY_FILE/);
      const error = await until('the error line', () => lines.find((l) => l.level === 50));
      expect(error.msg).toMatch(/TLS reload failed/);
      expect(JSON.stringify(error)).toMatch(/TLS_KEY_FILE/);
      expect(await servedFingerprint(running.port, pair.cert)).toBe(pair.fingerprint256);
      expect((await httpsRequest(`${running.httpUrl}/healthz`, pair.cert)).status).toBe(200);
    });

    it('does not start on a mismatched pair, naming TLS_CERT_FILE and TLS_KEY_FILE', async () => {
      const pair = makeCertPair(dir.dir, 'mismatch');
      await expect(startHub(testConfig({ tlsCertFile: pair.certFile, tlsKeyFile: other.keyFile }))).rejects.toThrow(/TLS_CERT_FILE .* and TLS_KEY_FILE .* are not a usable certificate and key/);
    });
  });
});
