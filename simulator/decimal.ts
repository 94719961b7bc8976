/**
 * Decimal helpers. Prices and sizes live on grids (tick size, lot size) that binary floats cannot
 * represent exactly (0.1 + 0.2 !== 0.3), so the model counts whole ticks and lots as integers and
 * only turns them into numbers at the edge, via a decimal string, which yields the double nearest
 * to the decimal value: exactly what `JSON.parse("189.99")` would give a reader.
 */

/** Decimal places of a step such as 0.01 (2), 0.00001 (5), 0.5 (1), 1000 (0). At most 12. */
export function decimalsOf(step: number): number {
  for (let d = 0; d <= 12; d++) {
    const scaled = step * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-9 * Math.max(1, scaled)) return d;
  }
  throw new RangeError(`decimalsOf: ${step} has more than 12 decimal places`);
}

/**
 * Round to `decimals` places, half away from zero, the way a person would round the decimal value:
 * 1.005 -> 1.01 and 1 - 1.005 (= -0.00499999999999989 in binary) -> -0.01. Never returns -0
 * (which `toEqual(0)` and some UIs treat differently).
 */
export function roundTo(value: number, decimals: number): number {
  if (!Number.isFinite(value)) return value;
  // 1. Drop binary noise: 12 significant digits is far finer than any price, size or cent here.
  const clean = Number(Math.abs(value).toPrecision(12));
  // 2. Shift the decimal point in the string, not by multiplying (1.005 * 100 = 100.49999999999999).
  const [mantissa, exponent] = clean.toExponential().split('e');
  const shifted = Math.round(Number(`${mantissa}e${Number(exponent) + decimals}`));
  const rounded = Number(`${shifted}e${-decimals}`);
  return rounded === 0 ? 0 : Math.sign(value) * rounded;
}

/** Money as displayed: rounded to cents. */
export function cents(value: number): number {
  return roundTo(value, 2);
}

/** A grid of values `n * step` (a tick size or a lot size), converted through integer counts. */
export class Increment {
  readonly decimals: number;
  /** `step` in units of 10^-decimals (an integer), and that unit's inverse. */
  private readonly units: number;
  private readonly scale: number;

  constructor(readonly step: number) {
    if (!(Number.isFinite(step) && step > 0)) throw new RangeError(`Increment: step must be > 0, got ${step}`);
    this.decimals = decimalsOf(step);
    this.scale = 10 ** this.decimals;
    this.units = Math.round(step * this.scale);
  }

  /** Nearest whole number of steps in `value`. */
  count(value: number): number {
    return Math.round(value / this.step);
  }

  /** The value of `n` steps, as the double nearest to the exact decimal. */
  value(n: number): number {
    // An exact integer divided by an exact power of ten: IEEE division rounds once, to the double
    // nearest the decimal (what parsing its string gives), without building the string.
    const exact = n * this.units;
    const v = Number.isSafeInteger(exact) ? exact / this.scale : Number((n * this.step).toFixed(this.decimals));
    return v === 0 ? 0 : v;
  }

  /** Snap any number to the grid. */
  snap(value: number): number {
    return this.value(this.count(value));
  }
}
