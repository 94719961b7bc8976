/**
 * Mock portfolio with average-cost accounting.
 *
 * - Buying into a flat or long position (or selling into a flat or short one) adds to it: the
 *   average price becomes the size-weighted mean of the old average and the fill price.
 * - A fill against the position closes `min(fill qty, |position|)` at the fill price and realizes
 *   `closed * (price - avg)` for a long, `closed * (avg - price)` for a short; the average of what
 *   remains is unchanged.
 * - If the fill is larger than the position, it flips: the rest opens a new position at the fill
 *   price. A flat position has average price 0.
 * - Unrealized = (last - avg) * qty (signed qty, so it is right for shorts); total = realized +
 *   unrealized. `last` is the market's last trade price from `mark`, or the fill price until the
 *   first mark.
 *
 * Precision: internal values keep full float precision (so display rounding never accumulates);
 * quantities are snapped to 8 decimals after every fill so that e.g. three 0.1 BTC buys and a 0.3
 * sell leave exactly 0. Snapshots round money to cents and average prices to 6 decimals; the
 * portfolio's realized and unrealized are the sums of the positions' rounded values, so the figures
 * a dashboard shows always add up to the cent.
 */
import type { Fill, PnlSnapshot, PositionPnl } from '../protocol/feeds.ts';
import { cents, roundTo } from './decimal.ts';

const QTY_DECIMALS = 8;
const AVG_PRICE_DECIMALS = 6;

interface PositionState {
  symbol: string;
  /** Signed: negative is short. */
  qty: number;
  avgPrice: number;
  realized: number;
}

export type FillInput = Pick<Fill, 'symbol' | 'side' | 'qty' | 'price'>;

export class Portfolio {
  private readonly positions = new Map<string, PositionState>();
  private readonly lastPrices = new Map<string, number>();

  /** Apply an execution. Throws on a non-positive quantity or price. */
  applyFill(fill: FillInput): void {
    const { symbol, side, qty, price } = fill;
    if (!(Number.isFinite(qty) && qty > 0)) throw new RangeError(`applyFill: qty must be > 0, got ${qty}`);
    if (!(Number.isFinite(price) && price > 0)) throw new RangeError(`applyFill: price must be > 0, got ${price}`);
    if (side !== 'buy' && side !== 'sell') throw new RangeError(`applyFill: side must be buy or sell, got ${String(side)}`);

    let pos = this.positions.get(symbol);
    if (!pos) {
      pos = { symbol, qty: 0, avgPrice: 0, realized: 0 };
      this.positions.set(symbol, pos);
    }
    if (!this.lastPrices.has(symbol)) this.lastPrices.set(symbol, price);

    const signed = side === 'buy' ? qty : -qty;
    const newQty = roundTo(pos.qty + signed, QTY_DECIMALS);
    if (pos.qty === 0 || Math.sign(pos.qty) === Math.sign(signed)) {
      // Open or add.
      pos.avgPrice = (pos.avgPrice * Math.abs(pos.qty) + price * qty) / Math.abs(newQty);
    } else {
      // Reduce, close or flip.
      const closed = Math.min(qty, Math.abs(pos.qty));
      pos.realized += closed * (price - pos.avgPrice) * Math.sign(pos.qty);
      if (newQty === 0) pos.avgPrice = 0;
      else if (Math.sign(newQty) !== Math.sign(pos.qty)) pos.avgPrice = price;
    }
    pos.qty = newQty;
  }

  /** Record the market's last trade price for `symbol` (used for unrealized P&L). */
  mark(symbol: string, last: number): void {
    if (!(Number.isFinite(last) && last > 0)) throw new RangeError(`mark: price must be > 0, got ${last}`);
    this.lastPrices.set(symbol, last);
  }

  /** Current signed quantity (0 if never traded). */
  qty(symbol: string): number {
    return this.positions.get(symbol)?.qty ?? 0;
  }

  /** One position, rounded for display; null if `symbol` was never traded. */
  position(symbol: string): PositionPnl | null {
    const pos = this.positions.get(symbol);
    return pos ? this.view(pos) : null;
  }

  /** All traded symbols (in order of first fill) and the totals. */
  snapshot(timeMs: number): PnlSnapshot {
    const positions = [...this.positions.values()].map((p) => this.view(p));
    let realized = 0;
    let unrealized = 0;
    for (const p of positions) {
      realized += p.realized;
      unrealized += p.unrealized;
    }
    realized = cents(realized);
    unrealized = cents(unrealized);
    return { time: timeMs, realized, unrealized, total: cents(realized + unrealized), positions };
  }

  private view(pos: PositionState): PositionPnl {
    const last = this.lastPrices.get(pos.symbol) ?? pos.avgPrice;
    return {
      symbol: pos.symbol,
      qty: pos.qty,
      avgPrice: roundTo(pos.avgPrice, AVG_PRICE_DECIMALS),
      last,
      realized: cents(pos.realized),
      unrealized: cents(pos.qty === 0 ? 0 : (last - pos.avgPrice) * pos.qty),
    };
  }
}
