/**
 * The simulator: market model, bars in every timeframe, order book, trades, strategy and
 * portfolio wired together, publishing the feeds of protocol/feeds.ts through an injected
 * `publish` function. It knows nothing about the hub connection; its state carries on whether or
 * not publishes get through.
 */
import { feedTopics, type Bar, type BookMessage, type BookSnapshot, type Fill, type PnlSnapshot, type Tick, type Trade } from '../protocol/feeds.ts';
import { BookModel } from './book.ts';
import { Market, type SymbolMarket, type SymbolSpec } from './market.ts';
import { Portfolio } from './portfolio.ts';
import { Random, deriveSeed } from './random.ts';
import { Executor, MeanReversion, type StrategyParams } from './strategy.ts';
import { TimeframeBars } from './timeframes.ts';
import { warmUp, type WarmSummary } from './warm-up.ts';
import type { WarmOptions } from './warm.ts';

export type FeedPayload = Tick | Bar | Trade | BookMessage | Fill | PnlSnapshot;

/** A full snapshot replaces the update on `book.<SYM>` this often, so taps and history readers resync on their own. */
export const BOOK_SNAPSHOT_EVERY_MS = 5_000;

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
  /** Advance one step at time `nowMs` (Unix ms): per symbol a tick, its trade, bars and book, plus fills and pnl. */
  tick(nowMs: number): void;
  /**
   * Publish a seeded history ending at `endMs` (simulator/warm-up.ts), leaving the model there.
   * Call once, before the first `tick`.
   */
  warmUp(endMs: number, options?: WarmOptions): WarmSummary;
  /** Tick at every step from the last tick up to `nowMs` (after a warm start took a while). Returns the ticks run. */
  catchUp(nowMs: number, maxTicks?: number): number;
  /** Tick on a timer at `ticksPerSecond`, with a pnl heartbeat. Idempotent. */
  start(): void;
  /** Stop the timers; state is kept and `start()` resumes. Idempotent. */
  stop(): void;
  readonly running: boolean;
  readonly symbols: readonly string[];
  /** The whole book of `symbol` as last published, or null before its first step. */
  book(symbol: string): BookSnapshot | null;
  /** The portfolio's P&L right now (not published). */
  pnl(nowMs: number): PnlSnapshot;
  stats(): SimulatorStats;
}

export interface SymbolState {
  market: SymbolMarket;
  bars: TimeframeBars;
  book: BookModel;
  strategy: MeanReversion;
  /** Id of the symbol's last trade. */
  tradeId: number;
  /** When a snapshot last went out on `book.<SYM>`. */
  bookSnapshotAt: number;
}

/**
 * Build a simulator. Per symbol and per `tick(nowMs)` call it publishes, in order:
 * `ticks.<SYM>` (Tick), `trades.<SYM>` (the tick's trade), the `bars.<tf>.<SYM>` versions due
 * (simulator/timeframes.ts), `book.<SYM>` (the update, or every BOOK_SNAPSHOT_EVERY_MS a
 * snapshot) and `book.snapshot.<SYM>`, and if the strategy trades, `fills` (Fill) followed by
 * `pnl` (PnlSnapshot). After all symbols, `pnl` again if none was published for `pnlIntervalMs`.
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
    bars: new TimeframeBars(m.spec.symbol),
    // Its own stream: the book leaves the price path of a seed as it was.
    book: new BookModel(m.spec, new Random(deriveSeed(seed, `${m.spec.symbol}/book`))),
    strategy: new MeanReversion(m.spec.symbol, m.spec.orderQty, options.strategy),
    tradeId: 0,
    bookSnapshotAt: -Infinity,
  }));
  const portfolio = new Portfolio();
  const executor = new Executor();
  const stats: SimulatorStats = { ticks: 0, fills: 0, published: 0 };
  let lastPnlAt = -Infinity;
  let lastTickAt: number | null = null;
  let warmed = false;
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

  const publishBook = (s: SymbolState, t: Tick, nowMs: number): void => {
    const wasReady = s.book.ready;
    const update = s.book.step(t, nowMs);
    if (wasReady && !update) return; // nothing changed
    const snapshot = s.book.snapshot();
    if (update && nowMs - s.bookSnapshotAt < BOOK_SNAPSHOT_EVERY_MS) {
      send(feedTopics.book(t.symbol), update);
    } else {
      send(feedTopics.book(t.symbol), snapshot);
      s.bookSnapshotAt = nowMs;
    }
    send(feedTopics.bookSnapshot(t.symbol), snapshot);
  };

  const tick = (nowMs: number): void => {
    if (!Number.isFinite(nowMs)) throw new RangeError(`tick: nowMs must be a finite number, got ${nowMs}`);
    lastTickAt = nowMs;
    for (const s of states) {
      const t = s.market.step(stepMs);
      stats.ticks++;
      portfolio.mark(t.symbol, t.last);
      send(feedTopics.tick(t.symbol), t);
      const trade: Trade = { symbol: t.symbol, id: ++s.tradeId, price: t.last, size: t.size, side: t.last === t.ask ? 'buy' : 'sell', time: nowMs };
      send(feedTopics.trades(t.symbol), trade);
      for (const v of s.bars.add(t.last, t.size, nowMs)) send(feedTopics.bars(v.timeframe, t.symbol), v.bar);
      publishBook(s, t, nowMs);

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
    warmUp(endMs, warmOptions = {}) {
      if (warmed || lastTickAt !== null) throw new Error('warmUp: call it once, before the first tick');
      warmed = true;
      const summary = warmUp({ states, portfolio, executor, stepMs, ticksPerSecond: rate, pnlIntervalMs, send, stats }, endMs, warmOptions);
      // The book starts at the last quote: a snapshot on both book topics.
      states.forEach((s, i) => publishBook(s, summary.lastTicks[i], summary.lastTickAt));
      summary.messages += 2 * states.length;
      lastTickAt = summary.lastTickAt;
      lastPnlAt = summary.lastPnlAt;
      return summary;
    },
    catchUp(nowMs, maxTicks = 10 * 60 * rate) {
      let n = 0;
      while (lastTickAt !== null && lastTickAt + stepMs <= nowMs && n < maxTicks) {
        tick(lastTickAt + stepMs);
        n++;
      }
      return n;
    },
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
    book: (symbol) => {
      const s = states.find((x) => x.market.spec.symbol === symbol);
      return s?.book.ready ? s.book.snapshot() : null;
    },
    pnl: (nowMs) => portfolio.snapshot(nowMs),
    stats: () => ({ ...stats }),
  };
}
