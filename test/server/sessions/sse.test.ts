/**
 * SSE streams that resume: a `sk.*` stream on node A of two hub processes on one Redis loses its
 * node to kill -9; a stream on node B sent the last id A's stream saw (Last-Event-ID) gets every
 * message after it, merged in pos order across the topics: zero loss, zero duplicates.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnHub, type HubProcess } from '../../support/hub-process.ts';
import { TestRedis } from '../../support/redis-server.ts';
import { resumeAcrossKill } from '../../support/sse-resume.ts';

const KEY = 'sse-resume-key';
let redis: TestRedis;
const children: ChildProcess[] = [];
let a: HubProcess;
let b: HubProcess;

beforeAll(async () => {
  redis = await TestRedis.start();
  const env = { REDIS_URL: redis.url, HUB_PUBLISH_KEY: KEY, HISTORY: '>=10000/600' };
  [a, b] = await Promise.all([spawnHub(env, children), spawnHub(env, children)]);
}, 60_000);
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await redis?.stop();
});

describe('SseSession', () => {
  it('a wildcard stream resumes on another node with Last-Event-ID after kill -9 of its own: nothing lost, nothing twice', { timeout: 60_000 }, async () => {
    const result = await resumeAcrossKill({
      firstBase: `http://127.0.0.1:${a.port}`,
      resumeBase: `http://127.0.0.1:${b.port}`,
      prefix: 'sk',
      async publish(topic, data) {
        const res = await fetch(`http://127.0.0.1:${b.port}/api/publish/${topic}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(data) });
        expect(res.status).toBe(200);
        return ((await res.json()) as { seq: number }).seq;
      },
      kill: () => void a.proc.kill('SIGKILL'),
    });
    expect(result.before).toBeGreaterThanOrEqual(30);
    expect(result.after).toBeGreaterThanOrEqual(30);
  });
});
