/** The storm's clients count each one's first connection attempt after a moment (the backoff floor). */
import { describe, expect, it } from 'vitest';
import { nowMs } from '../../../bench/lib/clock.ts';
import { StormClients } from '../../../bench/lib/storm-clients.ts';
import { testConfig } from '../../../server/config.ts';
import { startHub } from '../../../server/server.ts';
import { freePort } from '../../support/redis-server.ts';
import { until } from '../../support/until.ts';

describe('StormClients', () => {
  it('#stats gives the latest first attempt at or after attemptsFrom, 0 while a client has not tried', async () => {
    const port = await freePort(); // nothing listens: every attempt fails and backs off
    const storm = new StormClients();
    storm.open({ url: `ws://127.0.0.1:${port}/ws`, topic: 't', count: 5, minBackoffMs: 200, maxBackoffMs: 400 });
    try {
      await until('every client to have tried once', () => storm.stats(0, 0).lastFirstAttemptAt > 0, 5000);
      const from = nowMs() + 1;
      expect(storm.stats(0, from + 10_000).lastFirstAttemptAt).toBe(0); // nobody has tried that late yet
      const lastFirstAttemptAt = await until('every client to try again after `from`', () => storm.stats(0, from).lastFirstAttemptAt || null, 5000);
      expect(lastFirstAttemptAt).toBeGreaterThanOrEqual(from);
      expect(lastFirstAttemptAt).toBeLessThanOrEqual(nowMs());
      expect(storm.stats(0, from).open).toBe(0);
    } finally {
      storm.close();
    }
  });

  it('#stats counts a client welcomed on an attempt begun before attemptsFrom as trying at attemptsFrom', async () => {
    const hub = await startHub(testConfig());
    const storm = new StormClients();
    try {
      const since = nowMs();
      storm.open({ url: hub.wsUrl, topic: 't', count: 3, minBackoffMs: 200, maxBackoffMs: 400 });
      await until('all three open', () => storm.stats(since).open === 3, 5000);
      const from = nowMs() + 1; // the runner noticed the hub a little after these attempts began
      expect(storm.stats(since, from).lastFirstAttemptAt).toBe(from);
      expect(storm.stats(from, from + 1).lastFirstAttemptAt).toBe(0); // welcomed before `since`: not counted
      const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      storm.want(0); // every client has seq 0: all caught up now
      const stats = storm.stats(since);
      expect([sum(stats.attemptBuckets), sum(stats.welcomeBuckets), sum(stats.caughtUpBuckets)]).toEqual([3, 3, 3]);
    } finally {
      storm.close();
      await hub.close();
    }
  });
});
