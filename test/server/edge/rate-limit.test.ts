/**
 * TokenBucket on its own. It reads `performance.now()` and takes no clock, so these tests fake
 * only `performance` (timers stay real) and move time by exact amounts; one test runs on the
 * real clock to show the fake one hides nothing.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenBucket, type RateVerdict } from '../../../server/edge/rate-limit.ts';
import { until } from '../../support/until.ts';

const takes = (bucket: TokenBucket, n: number): RateVerdict[] => Array.from({ length: n }, () => bucket.take());
const advance = (ms: number) => vi.advanceTimersByTime(ms);

describe('TokenBucket', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('#take allows a burst of `burst` frames at once, then refuses', () => {
    const bucket = new TokenBucket(10, 5, 100);
    expect(takes(bucket, 5)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(bucket.take()).toBe('refuse');
  });

  it('#take(cost) spends `cost` tokens at once (a batch), refusing without spending when short', () => {
    const bucket = new TokenBucket(10, 5, 100);
    expect(bucket.take(3)).toBe('ok');
    expect(bucket.take(3)).toBe('refuse');
    expect(bucket.take(2)).toBe('ok');
    expect(bucket.retryAfterMs(4)).toBe(400);
    expect(bucket.retryAfterMs(6)).toBe(Infinity); // more than the burst: never
    expect(bucket.capacity).toBe(5);
  });

  it('#take refills at `perSecond`, fractions included, never above the burst', () => {
    const bucket = new TokenBucket(10, 5, 100);
    takes(bucket, 5);
    advance(99); // 0.99 of a token
    expect(bucket.take()).toBe('refuse');
    advance(1); // 1.0
    expect(bucket.take()).toBe('ok');
    expect(bucket.take()).toBe('refuse');
    advance(250); // 2.5 tokens
    expect(takes(bucket, 3)).toEqual(['ok', 'ok', 'refuse']);
    advance(60_000); // a minute idle is still only a burst
    expect(takes(bucket, 6)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'refuse']);
  });

  it('#take refuses `maxStrikes` times, then says close (and keeps saying it)', () => {
    const bucket = new TokenBucket(10, 2, 3);
    expect(takes(bucket, 2)).toEqual(['ok', 'ok']);
    expect(takes(bucket, 3)).toEqual(['refuse', 'refuse', 'refuse']);
    expect(bucket.take()).toBe('close');
    expect(bucket.take()).toBe('close');
  });

  it('#take counts strikes over the bucket\'s life: a refill serves frames but forgives no strike', () => {
    const bucket = new TokenBucket(10, 1, 2);
    expect(takes(bucket, 3)).toEqual(['ok', 'refuse', 'refuse']); // two strikes
    advance(100);
    expect(bucket.take()).toBe('ok'); // a token again
    expect(bucket.take()).toBe('close'); // the third strike
  });

  it('#retune keeps the tokens left and never tops them up (no fresh burst for new credentials)', () => {
    const bucket = new TokenBucket(10, 5, 100);
    takes(bucket, 5);
    bucket.retune(1000, 1000);
    expect(bucket.take()).toBe('refuse');
    expect(bucket.isFull()).toBe(false);
    advance(3); // the new rate applies from here: 3 tokens in 3 ms
    expect(takes(bucket, 4)).toEqual(['ok', 'ok', 'ok', 'refuse']);
  });

  it('#retune credits the time before it at the old rate', () => {
    const bucket = new TokenBucket(10, 5, 100);
    takes(bucket, 5);
    advance(100); // 1 token at 10/s
    bucket.retune(1000, 1000); // not 100 tokens, as 100 ms at the new rate would give
    expect(takes(bucket, 2)).toEqual(['ok', 'refuse']);
  });

  it('#retune keeps the strikes', () => {
    const bucket = new TokenBucket(10, 1, 2);
    expect(takes(bucket, 3)).toEqual(['ok', 'refuse', 'refuse']);
    bucket.retune(100_000, 100_000);
    expect(bucket.take()).toBe('close');
  });

  it('#retune to a lower burst caps the tokens, and the refill stops at the new burst', () => {
    const bucket = new TokenBucket(10, 100, 100);
    bucket.retune(10, 3);
    expect(takes(bucket, 4)).toEqual(['ok', 'ok', 'ok', 'refuse']);
    advance(60_000);
    expect(bucket.isFull()).toBe(true);
    expect(takes(bucket, 4)).toEqual(['ok', 'ok', 'ok', 'refuse']);
  });

  it('#retune to a higher burst does not fill the difference', () => {
    const bucket = new TokenBucket(10, 2, 100);
    bucket.retune(10, 50);
    expect(bucket.isFull()).toBe(false);
    expect(takes(bucket, 3)).toEqual(['ok', 'ok', 'refuse']);
  });

  it('#retryAfterMs is 0 while a token is there, else the time to the next whole token', () => {
    const bucket = new TokenBucket(4, 1, 100);
    expect(bucket.retryAfterMs()).toBe(0);
    bucket.take();
    expect(bucket.retryAfterMs()).toBe(250);
    advance(100);
    expect(bucket.retryAfterMs()).toBe(150);
    advance(150);
    expect(bucket.retryAfterMs()).toBe(0);
    expect(bucket.take()).toBe('ok');
  });

  it('#isFull is true for a new bucket, false after a take, true again once refilled', () => {
    const bucket = new TokenBucket(10, 2, 100);
    expect(bucket.isFull()).toBe(true);
    bucket.take();
    expect(bucket.isFull()).toBe(false);
    advance(99);
    expect(bucket.isFull()).toBe(false);
    advance(1);
    expect(bucket.isFull()).toBe(true);
  });
});

describe('TokenBucket on the real clock', () => {
  it('#take refills with real time', async () => {
    const bucket = new TokenBucket(50, 1, 100); // a token every 20 ms
    expect(bucket.take()).toBe('ok');
    expect(bucket.take()).toBe('refuse');
    const started = performance.now();
    await until('the bucket to refill', () => bucket.isFull(), 2000, 2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(15);
    expect(bucket.take()).toBe('ok');
  });
});
