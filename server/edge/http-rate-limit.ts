/**
 * Token buckets for HTTP publishing, keyed by remote address + credential subject: each caller
 * (an address with a credential) gets the rate a WebSocket connection gets, so a flood of posts
 * from one address cannot outrun the WebSocket rate limits (a credential used from N addresses
 * gets N buckets, as N connections would). The map is bounded: buckets that have refilled are dropped first (they
 * equal a new one), then the least recently used.
 */
import { hasRole, type Principal } from '../core/principal.ts';
import type { HubConfig } from '../config.ts';
import { TokenBucket } from './rate-limit.ts';

export interface HttpRateVerdict {
  ok: boolean;
  /** Seconds to wait before the next attempt (Retry-After), when refused. */
  retryAfterSeconds: number;
  /** The limit that applied and the setting that sets it, for the error message. */
  limit: number;
  /** True when the request costs more than the burst: it can never pass, only a smaller batch can. */
  overBurst: boolean;
  setting: 'RATE_LIMIT' | 'PUBLISHER_RATE_LIMIT';
}

/**
 * @example
 * const limiter = new HttpRateLimiter(config);
 * const verdict = limiter.take(remote, principal); // verdict.ok false -> 429
 */
export class HttpRateLimiter {
  /** Insertion order = least recently used first (a used key is moved to the end). */
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly config: Pick<HubConfig, 'rateLimitPerSecond' | 'rateLimitBurst' | 'publisherRateLimitPerSecond' | 'httpRateKeys'>) {}

  get size(): number {
    return this.buckets.size;
  }

  /** Spend `cost` publishes (one per message) of `remote` + `principal`'s allowance. */
  take(remote: string, principal: Principal, cost = 1): HttpRateVerdict {
    const publisher = hasRole(principal, 'publisher');
    const [rate, burst, setting] = publisher
      ? [this.config.publisherRateLimitPerSecond, this.config.publisherRateLimitPerSecond, 'PUBLISHER_RATE_LIMIT' as const]
      : [this.config.rateLimitPerSecond, this.config.rateLimitBurst, 'RATE_LIMIT' as const];
    const key = `${remote} ${principal.role} ${principal.subject}`;
    let bucket = this.buckets.get(key);
    if (bucket) this.buckets.delete(key);
    else {
      if (this.buckets.size >= this.config.httpRateKeys) this.prune();
      bucket = new TokenBucket(rate, burst, Infinity);
    }
    this.buckets.set(key, bucket);
    const ok = bucket.take(cost) === 'ok';
    const overBurst = cost > bucket.capacity;
    const retryAfterSeconds = ok ? 0 : overBurst ? 1 : Math.max(1, Math.ceil(bucket.retryAfterMs(cost) / 1000));
    return { ok, retryAfterSeconds, limit: rate, setting, overBurst };
  }

  /** Drop refilled buckets; if that is not enough, the least recently used tenth. */
  private prune(): void {
    for (const [key, bucket] of this.buckets) if (bucket.isFull()) this.buckets.delete(key);
    if (this.buckets.size < this.config.httpRateKeys) return;
    let excess = Math.max(1, Math.ceil(this.config.httpRateKeys / 10));
    for (const key of this.buckets.keys()) {
      if (excess-- <= 0) break;
      this.buckets.delete(key);
    }
  }
}
