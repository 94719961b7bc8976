/** Sparkline geometry: a series of values scaled into a small SVG box (no DOM here). */

/**
 * `points` attribute of an SVG polyline drawing `values` left to right across `width` x `height`,
 * highest value at the top. Long series are reduced to at most `maxPoints` by keeping every
 * bucket's last value (a close-price line stays honest at its ends). A flat series is a line
 * through the middle; non-finite values are skipped; fewer than two values give ''.
 *
 * @example
 * sparkPoints([1, 3, 2], 100, 20) // "0,20 50,0 100,10"
 */
export function sparkPoints(values: readonly number[], width: number, height: number, maxPoints = 120): string {
  const finite = values.filter(Number.isFinite);
  const vs = downsample(finite, Math.max(2, maxPoints));
  if (vs.length < 2) return '';
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of vs) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const range = hi - lo;
  const dx = width / (vs.length - 1);
  return vs
    .map((v, i) => {
      const y = range === 0 ? height / 2 : height - ((v - lo) / range) * height;
      return `${round(i * dx)},${round(y)}`;
    })
    .join(' ');
}

/** At most `max` values: the last value of each of `max` equal buckets (first and last kept). */
export function downsample(values: readonly number[], max: number): number[] {
  if (values.length <= max) return [...values];
  const out: number[] = [values[0]];
  const buckets = max - 1;
  const per = (values.length - 1) / buckets;
  for (let b = 1; b <= buckets; b++) out.push(values[Math.min(values.length - 1, Math.round(b * per))]);
  return out;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
