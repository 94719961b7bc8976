/**
 * `scripts/build-hub.ts`: the suite's global setup (test/support/global-setup.ts) runs it once
 * before any file, as `npm run build:hub` does (a rebuild here would pull the file from under the
 * other files' hub processes, which run the bundle too). The bundle it writes runs the hub as
 * the sources do — HTTP publish, a tap, the Redis broker's Lua scripts (read from beside the bundle), metrics — and after a kill
 * -9 and a restart of the bundle, a tap resumes from Redis history with nothing lost.
 */
import type { ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BUNDLE, spawnHub } from '../support/hub-process.ts';
import { TestRedis } from '../support/redis-server.ts';
import { openTap } from '../support/ws-client.ts';

const KEY = 'bundle-publish-key';
const children: ChildProcess[] = [];
let redis: TestRedis;

beforeAll(async () => {
  redis = await TestRedis.start();
}, 60_000);
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await redis?.stop();
});

const publish = async (port: number, topic: string, data: unknown) => {
  const res = await fetch(`http://127.0.0.1:${port}/api/publish/${topic}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(data) });
  expect(res.status).toBe(200);
  return (await res.json()) as { seq: number };
};

describe('build-hub', () => {
  it('writes one file with the Lua scripts beside it', () => {
    // Written by this run's global setup, not left over from an earlier build.
    expect(statSync(BUNDLE).mtimeMs).toBeGreaterThanOrEqual(inject('hubBundleBuiltAt') - 1000);
    expect(statSync(BUNDLE).size).toBeGreaterThan(100_000);
    expect(statSync(path.join(path.dirname(BUNDLE), 'scripts/publish.lua')).isFile()).toBe(true);
  });

  it('runs the hub on Redis: publish, tap, metrics; after kill -9 and a restart a tap resumes from history', async () => {
    const env = { REDIS_URL: redis.url, HUB_PUBLISH_KEY: KEY };
    const first = await spawnHub(env, children, { entry: 'bundle' });
    const tap = await openTap(`${first.wsUrl}/bundle.t`);
    expect((await publish(first.port, 'bundle.t', { n: 1 })).seq).toBe(1);
    expect(JSON.parse(await tap.next())).toMatchObject({ topic: 'bundle.t', seq: 1, data: { n: 1 } });
    const metrics = await (await fetch(`http://127.0.0.1:${first.port}/metrics`)).text();
    expect(metrics).toMatch(/^tickhub_published_total 1$/m);
    const epoch = tap.welcome.epoch;

    first.proc.kill('SIGKILL');
    await tap.closed;
    const second = await spawnHub({ ...env, PORT: String(first.port) }, children, { entry: 'bundle' });
    await publish(second.port, 'bundle.t', { n: 2 });
    const resumed = await openTap(`${second.wsUrl}/bundle.t?since=1&epoch=${epoch}`);
    expect(resumed.welcome.epoch).toBe(epoch);
    expect(JSON.parse(await resumed.next())).toMatchObject({ topic: 'bundle.t', seq: 2, data: { n: 2 } });
    resumed.close();
  }, 60_000);
});
