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
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxStrikes: number,
  ) {
    this.tokens = burst;
  }

  take(): RateVerdict {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 'ok';
    }
    return ++this.strikes > this.maxStrikes ? 'close' : 'refuse';
  }
}
