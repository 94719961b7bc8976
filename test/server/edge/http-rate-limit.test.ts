/**
 * HttpRateLimiter on its own (time faked through `performance`, which its TokenBuckets read),
 * and once through a real hub's POST /api/publish for the 429 and its Retry-After.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Principal } from '../../../server/core/principal.ts';
import { testConfig } from '../../../server/config.ts';
import { HttpRateLimiter } from '../../../server/edge/http-rate-limit.ts';
import { startHub } from '../../../server/server.ts';

const anonymous: Principal = { role: 'operator', publish: [], subject: 'anonymous' };
const viewer: Principal = { role: 'viewer', publish: [], subject: 'anonymous' };
const publisher: Principal = { role: 'publisher', publish: ['ticks.>'], subject: 'API_KEYS[1]' };
const otherPublisher: Principal = { role: 'publisher', publish: ['ticks.>'], subject: 'API_KEYS[2]' };
const admin: Principal = { role: 'admin', publish: [], subject: 'ops' };

const limits = { rateLimitPerSecond: 2, rateLimitBurst: 3, publisherRateLimitPerSecond: 5, httpRateKeys: 100 };
const oks = (limiter: HttpRateLimiter, remote: string, p: Principal, n: number) => Array.from({ length: n }, () => limiter.take(remote, p).ok);
const advance = (ms: number) => vi.advanceTimersByTime(ms);

describe('HttpRateLimiter', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('#take gives each address + credential its own bucket', () => {
    const limiter = new HttpRateLimiter(limits);
    expect(oks(limiter, '10.0.0.1', anonymous, 4)).toEqual([true, true, true, false]);
    // Another address with the same credential, and the same address with other credentials, start full.
    expect(oks(limiter, '10.0.0.2', anonymous, 4)).toEqual([true, true, true, false]);
    expect(oks(limiter, '10.0.0.1', viewer, 4)).toEqual([true, true, true, false]); // same subject, other role
    expect(oks(limiter, '10.0.0.1', publisher, 6)).toEqual([true, true, true, true, true, false]);
    expect(oks(limiter, '10.0.0.1', otherPublisher, 6)).toEqual([true, true, true, true, true, false]);
    expect(limiter.size).toBe(5);
    // And the first one is still spent.
    expect(limiter.take('10.0.0.1', anonymous).ok).toBe(false);
    expect(limiter.size).toBe(5);
  });

  it('#take: non-publishers get RATE_LIMIT and RATE_BURST', () => {
    const limiter = new HttpRateLimiter(limits);
    expect(oks(limiter, '10.0.0.1', anonymous, 4)).toEqual([true, true, true, false]);
    const refused = limiter.take('10.0.0.1', anonymous);
    expect(refused).toMatchObject({ ok: false, limit: 2, setting: 'RATE_LIMIT' });
    advance(500); // one token at 2/s
    expect(oks(limiter, '10.0.0.1', anonymous, 2)).toEqual([true, false]);
  });

  it('#take(cost) spends one token per message of a batch; more than the burst says overBurst', () => {
    const limiter = new HttpRateLimiter(limits);
    expect(limiter.take('10.0.0.3', publisher, 4).ok).toBe(true);
    expect(limiter.take('10.0.0.3', publisher, 2)).toMatchObject({ ok: false, overBurst: false });
    expect(limiter.take('10.0.0.3', publisher, 1).ok).toBe(true);
    expect(limiter.take('10.0.0.4', publisher, 6)).toMatchObject({ ok: false, overBurst: true, retryAfterSeconds: 1 });
  });

  it('#take: publishers and admins get PUBLISHER_RATE_LIMIT as rate and burst', () => {
    const limiter = new HttpRateLimiter(limits);
    for (const p of [publisher, admin]) {
      const first = limiter.take('10.0.0.1', p);
      expect(first).toEqual({ ok: true, retryAfterSeconds: 0, limit: 5, setting: 'PUBLISHER_RATE_LIMIT', overBurst: false });
      expect(oks(limiter, '10.0.0.1', p, 5)).toEqual([true, true, true, true, false]);
      advance(200); // one token at 5/s
      expect(oks(limiter, '10.0.0.1', p, 2)).toEqual([true, false]);
    }
  });

  it('#take says when to retry: whole seconds, at least 1, 0 when allowed', () => {
    const limiter = new HttpRateLimiter({ ...limits, rateLimitPerSecond: 0.25, rateLimitBurst: 1 });
    const ok = limiter.take('10.0.0.1', anonymous);
    expect(ok.retryAfterSeconds).toBe(0);
    expect(limiter.take('10.0.0.1', anonymous).retryAfterSeconds).toBe(4); // a token every 4 s
    advance(2500);
    expect(limiter.take('10.0.0.1', anonymous).retryAfterSeconds).toBe(2); // 1.5 s rounds up
    advance(1400);
    expect(limiter.take('10.0.0.1', anonymous).retryAfterSeconds).toBe(1); // 0.1 s is still 1 s
    advance(100);
    expect(limiter.take('10.0.0.1', anonymous)).toMatchObject({ ok: true, retryAfterSeconds: 0 });
    // A fast rate never says 0 when refusing.
    const fast = new HttpRateLimiter(limits);
    oks(fast, '10.0.0.1', anonymous, 3);
    expect(fast.take('10.0.0.1', anonymous)).toMatchObject({ ok: false, retryAfterSeconds: 1 });
  });

  it('#take keeps at most HTTP_RATE_KEYS keys: refilled buckets go first, however recently used', () => {
    const limiter = new HttpRateLimiter(limits); // 100 keys
    // Old keys, spent: they are the least recently used, and still refilling when the map is full.
    for (let i = 0; i < 50; i++) oks(limiter, `10.0.0.${i}`, anonymous, 3);
    advance(600); // the old ones now hold 1.2 tokens
    // Newer keys that spent one token only.
    for (let i = 50; i < 100; i++) limiter.take(`10.0.1.${i}`, anonymous);
    advance(500); // old: 2.2 tokens; newer: full (capped at 3), so they equal new buckets
    expect(limiter.size).toBe(100);
    limiter.take('10.0.2.1', anonymous);
    expect(limiter.size).toBe(51); // the 50 full ones dropped, nothing else
    // The oldest key kept its state: 2.2 tokens, not a fresh burst of 3.
    expect(oks(limiter, '10.0.0.0', anonymous, 3)).toEqual([true, true, false]);
  });

  it('#take, when no bucket is full, drops the least recently used tenth of HTTP_RATE_KEYS', () => {
    const limiter = new HttpRateLimiter(limits); // 100 keys: a tenth is 10
    for (let i = 0; i < 100; i++) oks(limiter, `10.0.0.${i}`, anonymous, 3); // all spent
    // Using key 0 again makes it the most recently used: key 1 is now the oldest.
    expect(limiter.take('10.0.0.0', anonymous).ok).toBe(false);
    limiter.take('10.0.9.9', anonymous); // the 101st key
    expect(limiter.size).toBe(91);
    // Keys 11 and 0 were kept (still spent); 1..10 were forgotten (a fresh burst).
    expect(limiter.take('10.0.0.11', anonymous).ok).toBe(false);
    expect(limiter.take('10.0.0.0', anonymous).ok).toBe(false);
    for (let i = 1; i <= 9; i++) expect(oks(limiter, `10.0.0.${i}`, anonymous, 4)).toEqual([true, true, true, false]);
    expect(limiter.size).toBe(100);
    expect(oks(limiter, '10.0.0.10', anonymous, 4)).toEqual([true, true, true, false]); // the 101st again: another tenth goes
    expect(limiter.size).toBe(91);
  });
});

describe('HttpRateLimiter behind POST /api/publish', () => {
  it('#take refusals answer 429 rate_limited with Retry-After, per credential', async () => {
    const running = await startHub(testConfig({ rateLimitPerSecond: 1, rateLimitBurst: 2, publisherRateLimitPerSecond: 3, publishKey: 'http-rate-publish-key' }));
    try {
      const post = (topic: string, token?: string) =>
        fetch(`${running.httpUrl}/api/publish/${topic}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: topic === 'chat' ? '{"text":"hi"}' : '{"n":1}',
        });
      // Anonymous (operator) may publish to chat only; its bucket is RATE_BURST. The requests go
      // at once, so no refill (1/s) can land between them however slow the machine.
      const anon = await Promise.all([post('chat'), post('chat'), post('chat')]);
      expect(anon.map((r) => r.status).sort()).toEqual([200, 200, 429]);
      const refused = anon.find((r) => r.status === 429)!;
      expect(refused.headers.get('retry-after')).toBe('1');
      const { error } = (await refused.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('rate_limited');
      expect(error.message).toContain('(RATE_LIMIT)');
      // The publish key from the same address has its own, larger bucket.
      const pub = await Promise.all([1, 2, 3, 4].map(() => post('ticks.X', 'http-rate-publish-key').then((r) => r.status)));
      expect(pub.sort()).toEqual([200, 200, 200, 429]);
      expect(running.hub.stats().messagesIn).toBe(5); // the refused ones published nothing
    } finally {
      await running.close();
    }
  });
});
