/**
 * Market model: per symbol a mid price following geometric Brownian motion, quoted on the
 * symbol's tick grid with a spread of whole ticks, plus one trade per step at the bid or the ask.
 * Pure: no timers, no clock; randomness only from the seeded `Random` given to it.
 */
import type { Tick } from '../protocol/feeds.ts';
import { Increment } from './decimal.ts';
import { Random, deriveSeed } from './random.ts';

export interface SymbolSpec {
  symbol: string;
  startPrice: number;
  /** Minimum price increment; every bid, ask and last is a whole number of ticks. */
  tickSize: number;
  /** Usual spread in ticks (>= 1); it sometimes widens by a few ticks. */
  spreadTicks: number;
  /** Annualised drift (mu) of the mid price, e.g. 0.08 for 8% a year. */
  drift: number;
  /** Annualised volatility (sigma), e.g. 0.3 for 30%. */
  volatility: number;
  /** Trade sizes are whole multiples of this (1 share, 0.0001 BTC, 1000 EUR). */
  lotSize: number;
  /** Median trade size; sizes are log-normal around it. */
  medianSize: number;
  /** Log-normal sigma of trade sizes; larger means fatter tails. */
  sizeSigma: number;
  /** Size of one order of the mock strategy. */
  orderQty: number;
}

/** Calendar year: crypto and FX trade around the clock; for stocks it just mutes the vol a bit. */
const MS_PER_YEAR = 365.25 * 24 * 3600 * 1000;

/** Chance that a quote shows a wider spread than usual. */
const WIDEN_CHANCE = 0.2;

/** The default universe, with start prices of late 2024. */
export const DEFAULT_SPECS: readonly SymbolSpec[] = Object.freeze([
  { symbol: 'AAPL', startPrice: 228.5, tickSize: 0.01, spreadTicks: 1, drift: 0.08, volatility: 0.28, lotSize: 1, medianSize: 100, sizeSigma: 1, orderQty: 100 },
  { symbol: 'MSFT', startPrice: 415.3, tickSize: 0.01, spreadTicks: 2, drift: 0.08, volatility: 0.25, lotSize: 1, medianSize: 100, sizeSigma: 1, orderQty: 50 },
  { symbol: 'NVDA', startPrice: 135.2, tickSize: 0.01, spreadTicks: 1, drift: 0.15, volatility: 0.5, lotSize: 1, medianSize: 200, sizeSigma: 1, orderQty: 200 },
  { symbol: 'BTC-USD', startPrice: 67000, tickSize: 0.5, spreadTicks: 2, drift: 0.1, volatility: 0.6, lotSize: 0.0001, medianSize: 0.05, sizeSigma: 1.2, orderQty: 0.25 },
  { symbol: 'ETH-USD', startPrice: 3400, tickSize: 0.01, spreadTicks: 10, drift: 0.1, volatility: 0.75, lotSize: 0.001, medianSize: 0.5, sizeSigma: 1.2, orderQty: 5 },
  { symbol: 'EURUSD', startPrice: 1.085, tickSize: 0.00001, spreadTicks: 2, drift: 0, volatility: 0.07, lotSize: 1000, medianSize: 250_000, sizeSigma: 1, orderQty: 100_000 },
]);

/** Symbols of the default universe, in order. */
export const DEFAULT_SYMBOLS: readonly string[] = DEFAULT_SPECS.map((s) => s.symbol);

/** Throws a RangeError naming the first bad field of a spec. */
export function validateSpec(spec: SymbolSpec): void {
  const bad = (field: string, why: string): never => {
    throw new RangeError(`symbol ${spec.symbol}: ${field} ${why}, got ${String((spec as unknown as Record<string, unknown>)[field])}`);
  };
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(spec.symbol)) bad('symbol', 'must be 1-64 chars of [A-Za-z0-9_-] (it is a topic token)');
  for (const field of ['startPrice', 'tickSize', 'lotSize', 'medianSize', 'orderQty'] as const) {
    if (!(Number.isFinite(spec[field]) && spec[field] > 0)) bad(field, 'must be a positive number');
  }
  if (!(Number.isInteger(spec.spreadTicks) && spec.spreadTicks >= 1)) bad('spreadTicks', 'must be an integer >= 1');
  if (!(Number.isFinite(spec.volatility) && spec.volatility >= 0)) bad('volatility', 'must be >= 0');
  if (!Number.isFinite(spec.drift)) bad('drift', 'must be a finite number');
  if (!(Number.isFinite(spec.sizeSigma) && spec.sizeSigma >= 0)) bad('sizeSigma', 'must be >= 0');
  if (spec.startPrice < spec.tickSize * (spec.spreadTicks + 1)) bad('startPrice', 'must be several ticks above zero');
  new Increment(spec.tickSize); // throws for steps with more than 12 decimals
  new Increment(spec.lotSize);
}

/**
 * Turn a list of symbol names (looked up in the default universe) and/or full specs into
 * validated specs. Throws on unknown names and duplicates.
 */
export function resolveSymbols(symbols: readonly (string | SymbolSpec)[] = DEFAULT_SYMBOLS): SymbolSpec[] {
  if (symbols.length === 0) throw new RangeError('need at least one symbol');
  const seen = new Set<string>();
  return symbols.map((entry) => {
    const spec = typeof entry === 'string' ? DEFAULT_SPECS.find((s) => s.symbol === entry) : entry;
    if (!spec) throw new RangeError(`unknown symbol "${String(entry)}" (known: ${DEFAULT_SYMBOLS.join(', ')})`);
    if (seen.has(spec.symbol)) throw new RangeError(`duplicate symbol "${spec.symbol}"`);
    seen.add(spec.symbol);
    validateSpec(spec);
    return { ...spec };
  });
}

/** One symbol's price process and quotes. */
export class SymbolMarket {
  private readonly tick: Increment;
  private readonly lot: Increment;
  /** Continuous mid price; only its quotes are rounded, so rounding never biases the walk. */
  private midPrice: number;

  constructor(
    readonly spec: SymbolSpec,
    private readonly rng: Random,
    /** Market time per wall time: 60 makes a minute of price action happen every second. */
    private readonly speed = 1,
  ) {
    validateSpec(spec);
    if (!(Number.isFinite(speed) && speed > 0)) throw new RangeError(`speed must be > 0, got ${speed}`);
    this.tick = new Increment(spec.tickSize);
    this.lot = new Increment(spec.lotSize);
    this.midPrice = spec.startPrice;
  }

  /** Current (unrounded) mid price. */
  get mid(): number {
    return this.midPrice;
  }

  /**
   * Advance the price by `dtMs` of wall time and return the resulting quote and trade. With
   * `trades` > 1 (the warm start's coarse steps) the step stands for that many trades: `size` is
   * their total, all on the step's side; with 1 it draws exactly what it always did.
   */
  step(dtMs: number, trades = 1): Tick {
    if (!(Number.isFinite(dtMs) && dtMs >= 0)) throw new RangeError(`step: dtMs must be >= 0, got ${dtMs}`);
    if (!(Number.isInteger(trades) && trades >= 1)) throw new RangeError(`step: trades must be an integer >= 1, got ${trades}`);
    const { drift, volatility: sigma, spreadTicks } = this.spec;
    const dt = (dtMs * this.speed) / MS_PER_YEAR;
    // Exact GBM step: S' = S * exp((mu - sigma^2/2) dt + sigma sqrt(dt) Z).
    const z = this.rng.normal();
    this.midPrice *= Math.exp((drift - (sigma * sigma) / 2) * dt + sigma * Math.sqrt(dt) * z);

    const spread = this.rng.chance(WIDEN_CHANCE) ? spreadTicks + this.rng.int(1, spreadTicks) : spreadTicks;
    // Keep the bid at least one tick above zero, however far the walk wanders down.
    let bidTicks = Math.round(this.midPrice / this.spec.tickSize - spread / 2);
    if (bidTicks < 1) {
      bidTicks = 1;
      this.midPrice = (1 + spread / 2) * this.spec.tickSize;
    }
    const askTicks = bidTicks + spread;

    // The aggressor crosses the spread: buyers lift the ask, sellers hit the bid.
    const lastTicks = this.rng.chance(0.5) ? askTicks : bidTicks;
    const medianLots = Math.max(1, this.spec.medianSize / this.spec.lotSize);
    let lots = 0;
    for (let i = 0; i < trades; i++) lots += Math.max(1, Math.round(this.rng.logNormal(Math.log(medianLots), this.spec.sizeSigma)));

    return {
      symbol: this.spec.symbol,
      bid: this.tick.value(bidTicks),
      ask: this.tick.value(askTicks),
      last: this.tick.value(lastTicks),
      size: this.lot.value(lots),
    };
  }
}

export interface MarketOptions {
  seed: number;
  symbols?: readonly (string | SymbolSpec)[];
  /** Market time per wall time (default 1, real time). */
  speed?: number;
}

/** All symbols of a run; each symbol has its own random stream derived from the seed. */
export class Market {
  readonly symbols: readonly SymbolMarket[];

  constructor(options: MarketOptions) {
    const specs = resolveSymbols(options.symbols);
    this.symbols = specs.map((spec) => new SymbolMarket(spec, new Random(deriveSeed(options.seed, spec.symbol)), options.speed));
  }

  /** Step every symbol by `dtMs`; one tick per symbol, in symbol order. */
  step(dtMs: number): Tick[] {
    return this.symbols.map((s) => s.step(dtMs));
  }
}
