/**
 * The warm start: run the same market model over the day before `endMs` and publish what a hub
 * would hold had the simulator been running all along, so the first page load shows full charts.
 *
 * Two speeds, one model (the GBM step is exact for any length):
 * - the last one to two hours (from the whole hour at least an hour before the end) at the live
 *   step: every trade, 1s bars, the strategy's fills and pnl, exactly as live;
 * - the day before that at one step per second, each step standing for `ticksPerSecond` trades
 *   (their sizes summed, so volumes match the live ones), rolled into 1m bars. Fine enough for
 *   1m and longer bars, and ~5x fewer steps: a day takes about a second.
 * The two parts meet on a whole hour, so no bar of any timeframe mixes them. Longer timeframes
 * are rolled up from the shorter ones, which is exactly what live aggregation gives.
 *
 * Published, per topic in time order and within its budget (simulator/warm.ts): the bars of every
 * timeframe (only final versions, plus the bar in progress), the last trades, fills, pnl, the last
 * tick. The book is built from the last tick and published by the caller. Same seed, same end
 * time: the same messages.
 */
import { TIMEFRAMES, TIMEFRAME_SECONDS, feedTopics, type Bar, type Fill, type PnlSnapshot, type Tick, type Timeframe, type Trade } from '../protocol/feeds.ts';
import { BarAggregator, rollUp } from './bars.ts';
import type { Portfolio } from './portfolio.ts';
import type { FeedPayload, SymbolState } from './simulator.ts';
import type { Executor } from './strategy.ts';
import { WARM_SPAN_SECONDS, WARM_TRADES, barSpanSeconds, warmBudget, withinBudget, type WarmOptions } from './warm.ts';

export interface WarmContext {
  states: readonly SymbolState[];
  portfolio: Portfolio;
  executor: Executor;
  stepMs: number;
  ticksPerSecond: number;
  pnlIntervalMs: number;
  send(topic: string, data: FeedPayload): void;
  stats: { ticks: number; fills: number };
}

export interface WarmSummary {
  /** Messages published. */
  messages: number;
  /** Market time covered, Unix seconds. */
  fromSec: number;
  toSec: number;
  /** Time of the last step (Unix ms): live ticks carry on from here. */
  lastTickAt: number;
  lastPnlAt: number;
  /** Each symbol's last tick, in symbol order. */
  lastTicks: Tick[];
}

const HOUR = 3_600;

export function warmUp(ctx: WarmContext, endMs: number, options: WarmOptions): WarmSummary {
  if (!Number.isFinite(endMs)) throw new RangeError(`warmUp: endMs must be a finite number, got ${endMs}`);
  const { states, portfolio, executor, stepMs } = ctx;
  const endSec = Math.floor(endMs / 1000);
  const fineStartSec = Math.floor((endSec - WARM_SPAN_SECONDS.shortBars) / HOUR) * HOUR;
  // Always the whole day, whatever the budgets: the price path at the end (and so the live market
  // of a seed) must not depend on the hub's HISTORY rules.
  const dayStartSec = Math.floor((endSec - WARM_SPAN_SECONDS.longBars) / HOUR) * HOUR;

  // The day: one step per second, standing for ticksPerSecond trades; into 1m bars.
  const coarseTrades = Math.max(1, Math.round(ctx.ticksPerSecond));
  const minute = states.map((s) => new BarAggregator(s.market.spec.symbol, 60));
  const minuteBars: Bar[][] = states.map(() => []);
  for (let sec = dayStartSec; sec < fineStartSec; sec++) {
    for (let i = 0; i < states.length; i++) {
      const t = states[i].market.step(1000, coarseTrades);
      const { closed } = minute[i].add(t.last, t.size, sec * 1000);
      if (closed) minuteBars[i].push(closed);
    }
  }
  minute.forEach((m, i) => {
    const last = m.peek();
    if (last) minuteBars[i].push(last); // ends on the hour: complete
  });

  // The last hour or two: every trade at the live step, as live.
  const tradeBudgets = states.map((s) => warmBudget(options, feedTopics.trades(s.market.spec.symbol), endSec, WARM_SPAN_SECONDS.trades, WARM_TRADES));
  const second = states.map((s) => new BarAggregator(s.market.spec.symbol, 1));
  const secondBars: Bar[][] = states.map(() => []);
  const trades: Trade[][] = states.map(() => []);
  const fills: Fill[] = [];
  const pnls: PnlSnapshot[] = [];
  const lastTicks: Tick[] = [];
  let lastPnlAt = -Infinity;
  let lastTickAt = fineStartSec * 1000;
  for (let n = 0; ; n++) {
    const now = fineStartSec * 1000 + n * stepMs;
    if (now > endMs) break;
    lastTickAt = now;
    for (let i = 0; i < states.length; i++) {
      const s = states[i];
      const t = s.market.step(stepMs);
      ctx.stats.ticks++;
      portfolio.mark(t.symbol, t.last);
      lastTicks[i] = t;
      const trade: Trade = { symbol: t.symbol, id: ++s.tradeId, price: t.last, size: t.size, side: t.last === t.ask ? 'buy' : 'sell', time: now };
      keepNewest(trades[i], trade, tradeBudgets[i].count);
      const { closed } = second[i].add(t.last, t.size, now);
      if (closed) secondBars[i].push(closed);
      const order = s.strategy.onTick(t, portfolio.qty(t.symbol));
      if (order) {
        const fill = executor.fill(order, t, now);
        portfolio.applyFill(fill);
        ctx.stats.fills++;
        fills.push(fill); // no pnl per fill here: once a second is what a chart of the past needs
      }
    }
    if (now - lastPnlAt >= ctx.pnlIntervalMs) {
      pnls.push(portfolio.snapshot(now));
      lastPnlAt = now;
    }
  }
  second.forEach((agg, i) => secondBars[i].push(agg.peek()!));

  // Every timeframe, rolled up; each list's last bar is the one in progress.
  let messages = 0;
  const send = (topic: string, data: FeedPayload): void => {
    ctx.send(topic, data);
    messages++;
  };
  const lists = states.map((_, i) => {
    const out = { '1s': secondBars[i], '1m': [...minuteBars[i], ...rollUp(secondBars[i], 60)] } as Record<Timeframe, Bar[]>;
    for (let k = 2; k < TIMEFRAMES.length; k++) out[TIMEFRAMES[k]] = rollUp(out[TIMEFRAMES[k - 1]], TIMEFRAME_SECONDS[TIMEFRAMES[k]]);
    return out;
  });
  for (const tf of TIMEFRAMES) {
    states.forEach((s, i) => {
      const topic = feedTopics.bars(tf, s.market.spec.symbol);
      for (const bar of withinBudget(lists[i][tf], warmBudget(options, topic, endSec, barSpanSeconds(tf)), (b) => b.time)) send(topic, bar);
    });
  }
  states.forEach((s, i) => {
    const inProgress = Object.fromEntries(TIMEFRAMES.map((tf) => [tf, lists[i][tf].at(-1)!])) as Record<Timeframe, Bar>;
    s.bars.resume(inProgress, lastTickAt);
    const topic = feedTopics.trades(s.market.spec.symbol);
    for (const trade of withinBudget(trades[i], tradeBudgets[i], (t) => t.time / 1000)) send(topic, trade);
  });
  for (const fill of withinBudget(fills, warmBudget(options, feedTopics.fills, endSec, WARM_SPAN_SECONDS.fills), (f) => f.time / 1000)) send(feedTopics.fills, fill);
  for (const pnl of withinBudget(pnls, warmBudget(options, feedTopics.pnl, endSec, WARM_SPAN_SECONDS.pnl), (p) => p.time / 1000)) send(feedTopics.pnl, pnl);
  lastTicks.forEach((t) => send(feedTopics.tick(t.symbol), t));

  return { messages, fromSec: dayStartSec, toSec: endSec, lastTickAt, lastPnlAt, lastTicks };
}

/** Append, keeping only the newest `limit` (amortised: trims in halves, not one at a time). */
function keepNewest<T>(list: T[], item: T, limit: number): void {
  if (limit <= 0) return;
  list.push(item);
  if (list.length >= 2 * limit) list.splice(0, list.length - limit);
}
