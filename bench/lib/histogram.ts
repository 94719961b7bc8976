/**
 * Mergeable latency histogram: 1 us buckets below 1 ms, then buckets 1% wide up to ~10 minutes.
 * Recording is O(1) and allocation-free, so every sampled latency can be kept, and histograms from
 * several load-generator processes merge exactly (which raw percentiles would not).
 */

const LINEAR_US = 1000;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const LOG_BUCKETS = Math.ceil(Math.log(600_000_000 / LINEAR_US) / LOG_GROWTH) + 1;
const SIZE = LINEAR_US + LOG_BUCKETS;

/** Serializable form of a histogram (sparse buckets). */
export interface HistogramData {
  count: number;
  min: number;
  max: number;
  sum: number;
  /** [bucket index, count] pairs for non-empty buckets. */
  buckets: Array<[number, number]>;
}

/** Percentile summary in milliseconds. */
export interface LatencySummary {
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

function bucketOf(us: number): number {
  if (us < LINEAR_US) return us < 0 ? 0 : Math.floor(us);
  const i = LINEAR_US + Math.floor(Math.log(us / LINEAR_US) / LOG_GROWTH);
  return i < SIZE ? i : SIZE - 1;
}

/** Upper edge of a bucket in microseconds (a conservative value for percentiles). */
function upperUs(i: number): number {
  if (i < LINEAR_US) return i + 1;
  return LINEAR_US * Math.pow(GROWTH, i - LINEAR_US + 1);
}

export class Histogram {
  private readonly counts = new Float64Array(SIZE);
  count = 0;
  min = Infinity;
  max = -Infinity;
  sum = 0;

  /** Records one latency in milliseconds (negative values, i.e. clock skew, count as 0). */
  record(ms: number): void {
    const v = ms < 0 ? 0 : ms;
    this.counts[bucketOf(v * 1000)]++;
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /** Adds all samples of `data` to this histogram. */
  merge(data: HistogramData): void {
    for (const [i, c] of data.buckets) this.counts[i] += c;
    this.count += data.count;
    this.sum += data.sum;
    if (data.count > 0) {
      this.min = Math.min(this.min, data.min);
      this.max = Math.max(this.max, data.max);
    }
  }

  /** Value (ms) at quantile q in [0, 1]; the exact max for q = 1. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    if (q >= 1) return this.max;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(upperUs(i) / 1000, this.max);
    }
    return this.max;
  }

  /** p50/p90/p99/p99.9/max/mean in milliseconds. */
  summary(): LatencySummary {
    return {
      samples: this.count,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      p999: this.quantile(0.999),
      max: this.count ? this.max : NaN,
      mean: this.count ? this.sum / this.count : NaN,
    };
  }

  /** Sparse, JSON-safe copy for IPC. */
  toData(): HistogramData {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < SIZE; i++) if (this.counts[i] > 0) buckets.push([i, this.counts[i]]);
    return { count: this.count, min: this.min, max: this.max, sum: this.sum, buckets };
  }

  /** Clears all samples. */
  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.min = Infinity;
    this.max = -Infinity;
    this.sum = 0;
  }
}
