/**
 * The simulator: market model, bar aggregation, strategy and portfolio wired together, publishing
 * the feeds of protocol/feeds.ts through an injected `publish` function. It knows nothing
 * about the hub connection; its state carries on whether or not publishes get through.
 */
import { feedTopics, type Bar, type Fill, type PnlSnapshot, type Tick } from '../protocol/feeds.ts';
import { BarAggregator } from './bars.ts';
import { Market, type SymbolMarket, type SymbolSpec } from './market.ts';
import { Portfolio } from './portfolio.ts';
import { Executor, MeanReversion, type StrategyParams } from './strategy.ts';

export type FeedPayload = Tick | Bar | Fill | PnlSnapshot;

/** Where messages go. A returned promise that rejects is reported to `onPublishError`, never thrown. */
export type PublishFn = (topic: string, data: FeedPayload) => void | PromiseLike<unknown>;

export interface SimulatorOptions {
  /** Seed of every random choice; the same seed and tick count give the same feeds. Default 1. */
  seed?: number;
  /** Names from the default universe and/or full specs. Default: all default symbols. */
  symbols?: readonly (string | SymbolSpec)[];
  /** Ticks per second per symbol (0 < rate <= 1000). Default 5. */
  ticksPerSecond?: number;
  publish: PublishFn;
  /** Clock used by `start()`; `tick(nowMs)` takes the time explicitly. Default `Date.now`. */
  now?: () => number;
  /** Market time per wall time (default 1): 60 plays a minute of price action per second. */
  speed?: number;
  strategy?: Partial<StrategyParams>;
  /** Publish pnl at least this often even without fills. Default 1000 ms. */
  pnlIntervalMs?: number;
  /** Called when `publish` throws or its promise rejects. Default: ignore. */
  onPublishError?: (err: unknown, topic: string) => void;
}

export interface SimulatorStats {
  ticks: number;
  fills: number;
  published: number;
}

export interface Simulator {
  /** Advance one step at time `nowMs` (Unix ms): one tick per symbol, plus bars, fills and pnl. */
  tick(nowMs: number): void;
  /** Tick on a timer at `ticksPerSecond`, with a pnl heartbeat. Idempotent. */
  start(): void;
  /** Stop the timers; state is kept and `start()` resumes. Idempotent. */
  stop(): void;
  readonly running: boolean;
  readonly symbols: readonly string[];
  /** The portfolio's P&L right now (not published). */
  pnl(nowMs: number): PnlSnapshot;
  stats(): SimulatorStats;
}

interface SymbolState {
  market: SymbolMarket;
  bars: BarAggregator;
  strategy: MeanReversion;
}

/**
 * Build a simulator. Per symbol and per `tick(nowMs)` call it publishes, in order:
 * `ticks.<SYM>` (Tick), `bars.1s.<SYM>` (the bar in progress), and if the strategy trades,
 * `fills` (Fill) followed by `pnl` (PnlSnapshot). After all symbols, `pnl` again if none was
 * published for `pnlIntervalMs`.
 *
 * The market advances by exactly 1/ticksPerSecond per tick whatever the wall clock says, so timer
 * jitter never changes the price path; `nowMs` only stamps bars, fills and snapshots.
 */
export function createSimulator(options: SimulatorOptions): Simulator {
  const seed = options.seed ?? 1;
  const rate = options.ticksPerSecond ?? 5;
  const pnlIntervalMs = options.pnlIntervalMs ?? 1000;
  const now = options.now ?? Date.now;
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  if (!(Number.isFinite(rate) && rate > 0 && rate <= 1000)) throw new RangeError(`ticksPerSecond must be in (0, 1000], got ${rate}`);
  if (!(Number.isFinite(pnlIntervalMs) && pnlIntervalMs > 0)) throw new RangeError(`pnlIntervalMs must be > 0, got ${pnlIntervalMs}`);
  if (typeof options.publish !== 'function') throw new TypeError('publish must be a function');

  const stepMs = 1000 / rate;
  const market = new Market({ seed, symbols: options.symbols, speed: options.speed });
  const states: SymbolState[] = market.symbols.map((m) => ({
    market: m,
    bars: new BarAggregator(m.spec.symbol),
    strategy: new MeanReversion(m.spec.symbol, m.spec.orderQty, options.strategy),
  }));
  const portfolio = new Portfolio();
  const executor = new Executor();
  const stats: SimulatorStats = { ticks: 0, fills: 0, published: 0 };
  let lastPnlAt = -Infinity;
  let tickTimer: ReturnType<typeof setInterval> | null = null;
  let pnlTimer: ReturnType<typeof setInterval> | null = null;

  const reportError = (err: unknown, topic: string): void => {
    try {
      options.onPublishError?.(err, topic);
    } catch {
      // a failing error handler must not stop the model
    }
  };

  const send = (topic: string, data: FeedPayload): void => {
    stats.published++;
    try {
      const result = options.publish(topic, data);
      if (result && typeof result.then === 'function') result.then(undefined, (err: unknown) => reportError(err, topic));
    } catch (err) {
      reportError(err, topic);
    }
  };

  const publishPnl = (nowMs: number): void => {
    lastPnlAt = nowMs;
    send(feedTopics.pnl, portfolio.snapshot(nowMs));
  };

  const tick = (nowMs: number): void => {
    if (!Number.isFinite(nowMs)) throw new RangeError(`tick: nowMs must be a finite number, got ${nowMs}`);
    for (const s of states) {
      const t = s.market.step(stepMs);
      stats.ticks++;
      portfolio.mark(t.symbol, t.last);
      send(feedTopics.tick(t.symbol), t);
      send(feedTopics.bar(t.symbol), s.bars.update(t, nowMs).bar);

      const order = s.strategy.onTick(t, portfolio.qty(t.symbol));
      if (order) {
        const fill = executor.fill(order, t, nowMs);
        portfolio.applyFill(fill);
        stats.fills++;
        send(feedTopics.fills, fill);
        publishPnl(nowMs);
      }
    }
    pnlIfDue(nowMs);
  };

  /** Publish pnl if none went out for `pnlIntervalMs` (or the clock stepped back). */
  const pnlIfDue = (nowMs: number): void => {
    if (nowMs - lastPnlAt >= pnlIntervalMs || nowMs < lastPnlAt) publishPnl(nowMs);
  };

  return {
    tick,
    start() {
      if (tickTimer) return;
      tickTimer = setInterval(() => tick(now()), stepMs);
      // Heartbeat for tick rates below 1/s; checking every tenth of the interval keeps gaps short.
      pnlTimer = setInterval(() => pnlIfDue(now()), pnlIntervalMs / 10);
    },
    stop() {
      if (tickTimer) clearInterval(tickTimer);
      if (pnlTimer) clearInterval(pnlTimer);
      tickTimer = pnlTimer = null;
    },
    get running() {
      return tickTimer !== null;
    },
    symbols: states.map((s) => s.market.spec.symbol),
    pnl: (nowMs) => portfolio.snapshot(nowMs),
    stats: () => ({ ...stats }),
  };
}
