/**
 * Payloads of the simulator's feeds. The dashboard reads exactly these shapes; teams that feed
 * their own telemetry into the dashboard publish the same shapes on the same topics.
 *
 * Times in `data` are market times chosen by the publisher; the envelope's `ts` is the hub's
 * clock when it accepted the message. They differ for the warm-start history (published at
 * start, describing the hour or day before it): chart by `data.time`, never by `ts`.
 */

/** Bar timeframes, shortest first, and their length in seconds. */
export const TIMEFRAMES = ['1s', '1m', '5m', '15m', '1h'] as const;
export type Timeframe = (typeof TIMEFRAMES)[number];
export const TIMEFRAME_SECONDS: Readonly<Record<Timeframe, number>> = Object.freeze({ '1s': 1, '1m': 60, '5m': 300, '15m': 900, '1h': 3600 });

/** True for one of TIMEFRAMES. */
export function isTimeframe(value: unknown): value is Timeframe {
  return typeof value === 'string' && (TIMEFRAMES as readonly string[]).includes(value);
}

/** Topic names of the simulator's feeds. */
export const feedTopics = {
  tick: (symbol: string) => `ticks.${symbol}`,
  /** The 1-second bars (the same topic as `bars('1s', symbol)`). */
  bar: (symbol: string) => `bars.1s.${symbol}`,
  bars: (timeframe: Timeframe, symbol: string) => `bars.${timeframe}.${symbol}`,
  trades: (symbol: string) => `trades.${symbol}`,
  /** Book increments (and a full snapshot at start and every few seconds): for full-rate readers. */
  book: (symbol: string) => `book.${symbol}`,
  /** The whole book after every change: for throttled (`maxHz`) or conflated readers and resyncs. */
  bookSnapshot: (symbol: string) => `book.snapshot.${symbol}`,
  fills: 'fills',
  pnl: 'pnl',
} as const;

/** `ticks.<SYM>`: top of book and last trade, one per model step. */
export interface Tick {
  symbol: string;
  /** Best bid and ask: always the first level of each side of `book.<SYM>` at this step. */
  bid: number;
  ask: number;
  /** Price of the step's trade (`trades.<SYM>`): the ask for a buyer, the bid for a seller. */
  last: number;
  /** Size of the last trade. */
  size: number;
}

/**
 * `bars.<tf>.<SYM>` for tf in TIMEFRAMES: an OHLCV bar. The bar in progress is republished as
 * trades arrive (every version has the same `time`; the last one is final), and bars of a topic
 * never go back in time. All timeframes aggregate the same trades, so they agree exactly: a 1m
 * bar is the aggregate of its 1s bars (open of the first, high of the highs, low of the lows,
 * close of the last, sum of the volumes), a 5m bar of its 1m bars, and so on.
 */
export interface Bar {
  symbol: string;
  /** Bar open time, Unix seconds (UTC), a multiple of the timeframe's length. */
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  /** Sum of the sizes of the bar's trades (rounded to 8 decimals). */
  volume: number;
}

/**
 * `trades.<SYM>`: one message per trade, every trade, in order. The trades of a bar's time span
 * are exactly what its volume sums; the latest trade is the `last`/`size` of `ticks.<SYM>`.
 */
export interface Trade {
  symbol: string;
  /** Increases by 1 per trade of the symbol within one simulator run (starts at 1). */
  id: number;
  price: number;
  size: number;
  /** The aggressor: a buyer lifted the ask, a seller hit the bid. */
  side: 'buy' | 'sell';
  /** Unix milliseconds. */
  time: number;
}

/** One price level: price and the total size resting there (size 0 in an update: remove it). */
export type BookLevel = [price: number, size: number];

/**
 * Levels per side the simulator publishes. The book on the wire is exactly its top BOOK_DEPTH
 * levels per side: an update also adds the levels that come into view and removes (size 0)
 * those that drop out of it, so a reader keeps exactly what it is sent and never truncates.
 */
export const BOOK_DEPTH = 25;

/**
 * `book.<SYM>` (and, `type: 'snapshot'` only, `book.snapshot.<SYM>`): an L2 order book.
 * `seq` numbers the book's states within one simulator run: each update moves it from `seq - 1`
 * to `seq`; a snapshot is the whole book at its `seq`. `checksum` is `bookChecksum` (protocol/
 * book.ts) of the whole book after the message: a reader that computes another value holds a
 * wrong book and must resync. How to keep a book and resync: docs/protocol.md, "Order book".
 */
export interface BookSnapshot {
  type: 'snapshot';
  symbol: string;
  seq: number;
  /** Unix milliseconds of the state. */
  time: number;
  /** Best (highest) first. */
  bids: BookLevel[];
  /** Best (lowest) first. */
  asks: BookLevel[];
  checksum: number;
}

/** A change of a `book.<SYM>` book: each level listed replaces the size at its price (0 removes it). */
export interface BookUpdate {
  type: 'update';
  symbol: string;
  seq: number;
  time: number;
  bids: BookLevel[];
  asks: BookLevel[];
  checksum: number;
}

export type BookMessage = BookSnapshot | BookUpdate;

/** `fills`: one execution of the mock portfolio. */
export interface Fill {
  id: number;
  symbol: string;
  side: 'buy' | 'sell';
  qty: number;
  price: number;
  /** Unix milliseconds. */
  time: number;
}

export interface PositionPnl {
  symbol: string;
  /** Signed quantity: negative is short. */
  qty: number;
  avgPrice: number;
  last: number;
  realized: number;
  unrealized: number;
}

/** `pnl`: the portfolio's P&L, published after every fill and at least once a second. */
export interface PnlSnapshot {
  /** Unix milliseconds. */
  time: number;
  realized: number;
  unrealized: number;
  total: number;
  positions: PositionPnl[];
}
