/**
 * `server/main.ts` as a child process: SIGTERM drains (clients closed 1012 over DRAIN_MS), then
 * the process exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DRAIN_REASON } from '../../server/core/drain.ts';
import { freePort } from '../support/redis-server.ts';
import { openSocket, type TestSocket } from '../support/ws-client.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DRAIN_MS = 500;
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** Start `server/main.ts` on a free port and wait for its "listening" log line. */
async function spawnHub(env: Record<string, string>): Promise<{ proc: ChildProcess; port: number }> {
  const port = await freePort();
  const proc = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hub did not start: ${out}`)), 20_000);
    const onData = (d: Buffer) => {
      out += String(d);
      if (out.includes('tickhub listening')) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`hub exited ${code}: ${out}`)));
  });
  return { proc, port };
}

describe('main', () => {
  it('drains on SIGTERM: clients closed 1012, then exit 0 within DRAIN_MS and a margin', async () => {
    const { proc, port } = await spawnHub({ DRAIN_MS: String(DRAIN_MS) });
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
});
