/**
 * The mock portfolio's trader: a deterministic mean-reversion strategy on the mid price, and an
 * executor that fills its orders against the current quote (buys at the ask, sells at the bid).
 */
import type { Fill, Tick } from '../protocol/feeds.ts';
import { roundTo } from './decimal.ts';

export interface StrategyParams {
  /** Ticks in the moving window (mean and standard deviation of the mid). */
  window: number;
  /** Trade when the mid is this many standard deviations from its mean. */
  entryZ: number;
  /** Minimum ticks between two orders of one symbol (keeps the fill rate readable). */
  cooldownTicks: number;
  /** Position limit, in orders: |position| never exceeds maxOrders * orderQty. */
  maxOrders: number;
}

export const DEFAULT_STRATEGY: Readonly<StrategyParams> = Object.freeze({
  window: 50,
  entryZ: 2,
  cooldownTicks: 25,
  maxOrders: 3,
});

export interface Order {
  symbol: string;
  side: 'buy' | 'sell';
  qty: number;
}

/** Quantities are snapped like the portfolio's so that limits compare exactly. */
const QTY_DECIMALS = 8;

/**
 * Mean reversion on one symbol. When the mid is `entryZ` deviations below its moving mean it buys
 * (above: sells), adding up to the position limit; a signal against the current position flips it
 * in one order. Once the mid is back on the far side of the mean it takes profit one order at a
 * time, so the tape shows opens, adds, partial closes, closes and flips.
 */
export class MeanReversion {
  private readonly params: StrategyParams;
  private readonly mids: number[] = [];
  private ticksSinceOrder = Infinity;

  constructor(
    readonly symbol: string,
    readonly orderQty: number,
    params: Partial<StrategyParams> = {},
  ) {
    this.params = { ...DEFAULT_STRATEGY, ...params };
    const { window, entryZ, cooldownTicks, maxOrders } = this.params;
    if (!(Number.isInteger(window) && window >= 2)) throw new RangeError(`strategy: window must be an integer >= 2, got ${window}`);
    if (!(Number.isFinite(entryZ) && entryZ > 0)) throw new RangeError(`strategy: entryZ must be > 0, got ${entryZ}`);
    if (!(Number.isInteger(cooldownTicks) && cooldownTicks >= 0)) throw new RangeError(`strategy: cooldownTicks must be an integer >= 0, got ${cooldownTicks}`);
    if (!(Number.isInteger(maxOrders) && maxOrders >= 1)) throw new RangeError(`strategy: maxOrders must be an integer >= 1, got ${maxOrders}`);
    if (!(Number.isFinite(orderQty) && orderQty > 0)) throw new RangeError(`strategy: orderQty must be > 0, got ${orderQty}`);
  }

  /** Feed the next tick and the current signed position; returns an order or null. */
  onTick(tick: Tick, position: number): Order | null {
    if (tick.symbol !== this.symbol) throw new Error(`MeanReversion(${this.symbol}): got a tick for ${tick.symbol}`);
    const { window, entryZ, cooldownTicks, maxOrders } = this.params;
    this.mids.push((tick.bid + tick.ask) / 2);
    if (this.mids.length > window) this.mids.shift();
    this.ticksSinceOrder++;
    if (this.mids.length < window || this.ticksSinceOrder < cooldownTicks) return null;

    const mean = this.mids.reduce((a, b) => a + b, 0) / window;
    const variance = this.mids.reduce((a, b) => a + (b - mean) ** 2, 0) / window;
    const sd = Math.sqrt(variance);
    if (sd <= mean * 1e-12) return null; // flat window: no signal
    const z = (this.mids[this.mids.length - 1] - mean) / sd;

    const order = this.decide(z, position, maxOrders * this.orderQty, entryZ);
    if (order) this.ticksSinceOrder = 0;
    return order;
  }

  private decide(z: number, position: number, limit: number, entryZ: number): Order | null {
    const held = Math.abs(position);
    if (Math.abs(z) >= entryZ) {
      const side = z > 0 ? 'sell' : 'buy';
      const dir = side === 'buy' ? 1 : -1;
      if (position * dir < 0) return this.order(side, held + this.orderQty); // flip
      if (roundTo(held + this.orderQty, QTY_DECIMALS) <= limit) return this.order(side, this.orderQty);
      return null; // at the limit
    }
    if (position !== 0 && z * Math.sign(position) >= 0) {
      // Back past the mean: take profit by one order (all of it if less is left).
      return this.order(position > 0 ? 'sell' : 'buy', Math.min(this.orderQty, held));
    }
    return null;
  }

  private order(side: 'buy' | 'sell', qty: number): Order {
    return { symbol: this.symbol, side, qty: roundTo(qty, QTY_DECIMALS) };
  }
}

/** Fills orders in full against a quote; fill ids count up from 1. */
export class Executor {
  private nextId = 1;

  /** Execute `order` against `tick` at time `timeMs`: buys pay the ask, sells get the bid. */
  fill(order: Order, tick: Tick, timeMs: number): Fill {
    if (order.symbol !== tick.symbol) throw new Error(`Executor: order for ${order.symbol} against a ${tick.symbol} quote`);
    return {
      id: this.nextId++,
      symbol: order.symbol,
      side: order.side,
      qty: order.qty,
      price: order.side === 'buy' ? tick.ask : tick.bid,
      time: timeMs,
    };
  }
}
