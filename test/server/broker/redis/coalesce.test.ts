import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../../../server/broker/redis/broker.ts';
import { CoalescedReads } from '../../../../server/broker/redis/coalesce.ts';
import { TestRedis } from '../../../support/redis-server.ts';

let redis: TestRedis;
let broker: RedisBroker;

/** EVALSHA calls Redis has counted since the last CONFIG RESETSTAT. */
async function evalShaCalls(): Promise<number> {
  const info = await redis.command('INFO', 'commandstats');
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

beforeAll(async () => {
  redis = await TestRedis.start();
  broker = await RedisBroker.connect({ url: redis.url, retention: [{ pattern: '>', maxMessages: 1000, maxAgeSeconds: 3600 }] });
  for (let i = 0; i < 3; i++) await broker.publish('storm.t', JSON.stringify({ i }));
});

afterAll(async () => {
  await broker?.close();
  await redis?.stop();
});

describe('CoalescedReads', () => {
  it('runs one read for the same key asked in one turn, and a new one on the next turn', async () => {
    const reads = new CoalescedReads<number>();
    let calls = 0;
    const read = async () => ++calls;
    const first = await Promise.all([reads.run('a', read), reads.run('a', read), reads.run('b', read)]);
    expect(first).toEqual([1, 1, 2]);
    expect(await reads.run('a', read)).toBe(3);
  });

  it('rejects every caller of a failed read, and the next read is tried afresh', async () => {
    const reads = new CoalescedReads<number>();
    const failing = () => Promise.reject(new Error('down'));
    const both = [reads.run('a', failing), reads.run('a', failing)];
    for (const p of both) await expect(p).rejects.toThrow('down');
    expect(await reads.run('a', async () => 7)).toBe(7);
  });
});

describe('RedisBroker history under a resume storm', () => {
  it('answers 500 identical resumes asked at once with one HISTORY script, each with the full page', async () => {
    await redis.command('CONFIG', 'RESETSTAT');
    const pages = await Promise.all(Array.from({ length: 500 }, () => broker.history('storm.t', { since: 1 })));
    expect(await evalShaCalls()).toBe(1);
    for (const page of pages) expect(page.messages.map((m) => m.seq)).toEqual([2, 3]);
  });

  it('does not share a read that was already sent: a later ask sees a message published meanwhile', async () => {
    const early = broker.history('storm.t', { since: 1 });
    await new Promise((r) => setImmediate(r)); // the first read is on its way
    const published = await broker.publish('storm.t', JSON.stringify({ late: true }));
    const late = await broker.history('storm.t', { since: 1 });
    expect(late.messages.at(-1)?.seq).toBe(published.seq);
    expect((await early).messages.length).toBeLessThanOrEqual(late.messages.length);
  });

  it('keeps different queries apart', async () => {
    const [a, b] = await Promise.all([broker.history('storm.t', { since: 2 }), broker.history('storm.t', { limit: 1 })]);
    expect(a.messages[0].seq).toBe(3);
    expect(b.messages).toHaveLength(1);
  });
});
