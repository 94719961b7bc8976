/**
 * Seeded pseudo-random numbers. The whole simulator draws from these so that a seed reproduces
 * the same price path, trades and fills; `Math.random` is never used by the model.
 */

/** A 32-bit seed from any finite number (truncated, taken modulo 2^32). */
function toSeed(seed: number): number {
  if (!Number.isFinite(seed)) throw new RangeError(`Random: seed must be a finite number, got ${seed}`);
  return Math.trunc(seed) >>> 0;
}

/**
 * Mix a seed with a label (e.g. a symbol) into a new 32-bit seed, so each symbol gets its own
 * stream: AAPL's path for seed 7 is the same whichever other symbols run alongside it.
 */
export function deriveSeed(seed: number, label: string): number {
  // FNV-1a over the label, started from the seed, then a murmur3 finalizer to spread the bits.
  let h = (toSeed(seed) ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32: tiny, fast and good enough for a market toy (period 2^32). */
export class Random {
  private state: number;
  /** Box-Muller makes normals in pairs; the second one is kept for the next call. */
  private spare: number | null = null;

  constructor(seed: number) {
    this.state = toSeed(seed);
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer uniform in [min, max], both inclusive. */
  int(min: number, max: number): number {
    if (!Number.isInteger(min) || !Number.isInteger(max) || max < min) {
      throw new RangeError(`Random.int: need integers min <= max, got ${min}, ${max}`);
    }
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Normal (Gaussian) via Box-Muller. */
  normal(mean = 0, sd = 1): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return mean + sd * z;
    }
    const u1 = 1 - this.next(); // (0, 1]: log(0) would be -Infinity
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spare = r * Math.sin(theta);
    return mean + sd * r * Math.cos(theta);
  }

  /** Log-normal: exp(N(mu, sigma)); the median is exp(mu). */
  logNormal(mu: number, sigma: number): number {
    return Math.exp(this.normal(mu, sigma));
  }
}
