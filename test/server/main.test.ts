/**
 * `server/main.ts` as a child process, from the sources under tsx as `npm run hub` runs it (the
 * other process tests run the bundle; this file keeps the source entry covered): SIGTERM drains (clients closed 1012 over DRAIN_MS), then
 * the process exits 0; SIGHUP reloads TLS_CERT_FILE / TLS_KEY_FILE without dropping connections.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { DRAIN_REASON } from '../../server/core/drain.ts';
import { spawnHub } from '../support/hub-process.ts';
import { openSocket, type TestSocket } from '../support/ws-client.ts';
import { certDir, makeCertPair } from '../support/tls-certs.ts';
import { httpsRequest, servedFingerprint } from '../support/tls-client.ts';
import { until } from '../support/until.ts';

const DRAIN_MS = 500;
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

describe('main', () => {
  it('drains on SIGTERM: clients closed 1012, then exit 0 within DRAIN_MS and a margin', async () => {
    const { proc, port } = await spawnHub({ DRAIN_MS: String(DRAIN_MS) }, children, { entry: 'source' });
    const sockets: TestSocket[] = [];
    for (let i = 0; i < 10; i++) sockets.push(await openSocket(`ws://127.0.0.1:${port}/ws/main.${i}`));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => proc.once('exit', (code) => resolve({ code, at: Date.now() })));
    const closes = sockets.map((s) => s.closed.then((c) => ({ ...c, at: Date.now() })));
    const sentAt = Date.now();
    proc.kill('SIGTERM');
    const { code, at } = await exited;
    expect(code).toBe(0);
    expect(at - sentAt).toBeLessThan(DRAIN_MS + 3000);
    for (const c of await Promise.all(closes)) {
      expect(c).toMatchObject({ code: 1012, reason: DRAIN_REASON });
      expect(c.at).toBeLessThanOrEqual(at + 50);
    }
  }, 30_000);

  it('reloads the TLS pair on SIGHUP: new connections get the new certificate, an open wss tap keeps receiving', async () => {
    const dir = certDir();
    try {
      const first = makeCertPair(dir.dir, 'hub');
      const KEY = 'main-test-publish-key';
      const { proc, port } = await spawnHub({ TLS_CERT_FILE: first.certFile, TLS_KEY_FILE: first.keyFile, HUB_PUBLISH_KEY: KEY }, children, { entry: 'source' });
      const tap = await openSocket(`wss://127.0.0.1:${port}/ws/sighup.*`, undefined, { ca: first.cert });
      expect(await servedFingerprint(port, first.cert)).toBe(first.fingerprint256);
      const second = makeCertPair(dir.dir, 'hub'); // overwrite the files in place
      proc.kill('SIGHUP');
      const ca = [first.cert, second.cert];
      await until('the new certificate served', async () => (await servedFingerprint(port, ca)) === second.fingerprint256 || undefined, 10_000, 50);
      const published = await httpsRequest(`https://127.0.0.1:${port}/api/publish/sighup.a`, second.cert, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ after: 'sighup' }),
      });
      expect(published.status).toBeLessThan(300);
      expect(await tap.nextJson((f) => f.topic === 'sighup.a')).toMatchObject({ data: { after: 'sighup' } });
      expect(proc.exitCode).toBeNull();
      tap.close();
    } finally {
      dir.remove();
    }
  }, 30_000);
});
