/**
 * Payloads of the simulator's feeds. The dashboard reads exactly these shapes; teams that feed
 * their own telemetry into the dashboard publish the same shapes on the same topics.
 */

/** Topic names of the simulator's feeds. */
export const feedTopics = {
  tick: (symbol: string) => `ticks.${symbol}`,
  bar: (symbol: string) => `bars.1s.${symbol}`,
  fills: 'fills',
  pnl: 'pnl',
} as const;

/** `ticks.<SYM>`: top of book and last trade. */
export interface Tick {
  symbol: string;
  bid: number;
  ask: number;
  last: number;
  /** Size of the last trade. */
  size: number;
}

/** `bars.1s.<SYM>`: a 1-second OHLCV bar; the bar in progress is republished as ticks arrive. */
export interface Bar {
  symbol: string;
  /** Bar open time, Unix seconds (UTC). */
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

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
