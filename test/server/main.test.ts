/**
 * `server/main.ts` as a child process: SIGTERM drains (clients closed 1012 over DRAIN_MS), then
 * the process exits 0.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { DRAIN_REASON } from '../../server/core/drain.ts';
import { spawnHub } from '../support/hub-process.ts';
import { openSocket, type TestSocket } from '../support/ws-client.ts';

const DRAIN_MS = 500;
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

describe('main', () => {
  it('drains on SIGTERM: clients closed 1012, then exit 0 within DRAIN_MS and a margin', async () => {
    const { proc, port } = await spawnHub({ DRAIN_MS: String(DRAIN_MS) }, children);
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
