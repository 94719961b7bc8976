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

  take(): RateVerdict {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
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

  /** Milliseconds until the next token. */
  retryAfterMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.perSecond);
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
