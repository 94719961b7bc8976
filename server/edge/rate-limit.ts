/**
 * Per-connection token bucket. Frames over the rate are refused with an error; a connection
 * that keeps going after `strikes` refusals is abusive and gets closed.
 */
export type RateVerdict = 'ok' | 'refuse' | 'close';

export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  private strikes = 0;

  constructor(
    private perSecond: number,
    private burst: number,
    private readonly maxStrikes: number,
  ) {
    this.tokens = burst;
  }

  /** Spend `cost` tokens (one per frame; one per message of a batch). */
  take(cost = 1): RateVerdict {
    this.refill();
    if (this.tokens >= cost) {
      this.tokens -= cost;
      return 'ok';
    }
    return ++this.strikes > this.maxStrikes ? 'close' : 'refuse';
  }

  /**
   * Change the rate (a role change). Tokens and strikes carry over and are never topped up, so
   * changing credentials cannot buy a fresh burst; a lower burst caps what is left.
   */
  retune(perSecond: number, burst: number): void {
    this.refill();
    this.perSecond = perSecond;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  /** Milliseconds until `cost` tokens are there (Infinity when `cost` exceeds the burst). */
  retryAfterMs(cost = 1): number {
    this.refill();
    if (cost > this.burst) return Infinity;
    return this.tokens >= cost ? 0 : Math.ceil(((cost - this.tokens) * 1000) / this.perSecond);
  }

  /** The most tokens the bucket holds: a batch costing more can never pass. */
  get capacity(): number {
    return this.burst;
  }

  /** True once the bucket has refilled completely: it is then no different from a new one. */
  isFull(): boolean {
    this.refill();
    return this.tokens >= this.burst;
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000);
    this.last = now;
  }
}
