/**
 * The warm start's budget: how much history of each feed to publish at start, so a fresh hub
 * shows full charts at once without publishing more than its HISTORY retention keeps.
 *
 * Wanted: the last hour of 1s bars, pnl and fills, the last day of the longer timeframes, the
 * last WARM_TRADES trades per symbol. Each topic's share is then cut to its retention rule (first
 * matching pattern, as the hub picks it): at most `maxMessages` messages, and nothing older in
 * market time than `maxAgeSeconds`. The hub ages messages by its own `ts` (when it accepted
 * them), and warm messages all arrive at start, so without the second cut a topic would keep a
 * day of warm bars that its rule would never keep of live ones.
 */
import { TIMEFRAME_SECONDS, type Timeframe } from '../protocol/feeds.ts';
import { matches } from '../protocol/topics.ts';

/** A HISTORY rule as the hub has it (server/config.ts RetentionRule). */
export interface WarmRetentionRule {
  pattern: string;
  maxMessages: number;
  maxAgeSeconds: number;
}

export interface WarmOptions {
  /** The hub's HISTORY rules; without them the wanted spans are published whole. */
  retention?: readonly WarmRetentionRule[];
}

/** Seconds of market history wanted per feed. */
export const WARM_SPAN_SECONDS = Object.freeze({ shortBars: 3_600, longBars: 86_400, pnl: 3_600, fills: 3_600, trades: 3_600 });

/** Trades per symbol at most: a tape needs the recent ones, not an hour of them. */
export const WARM_TRADES = 300;

export interface WarmBudget {
  /** Publish at most this many messages of the topic (the newest). */
  count: number;
  /** Publish nothing stamped before this (Unix seconds of market time). */
  sinceSec: number;
}

/** The budget of `topic` for a warm start ending at `endSec`, wanting `spanSeconds` and at most `wanted` messages. */
export function warmBudget(options: WarmOptions, topic: string, endSec: number, spanSeconds: number, wanted = Infinity): WarmBudget {
  const rule = options.retention?.find((r) => matches(r.pattern, topic));
  if (options.retention && !rule) return { count: 0, sinceSec: endSec }; // the hub keeps nothing of it
  const count = Math.min(wanted, rule?.maxMessages ?? Infinity);
  const span = Math.min(spanSeconds, rule?.maxAgeSeconds ?? Infinity);
  return { count, sinceSec: endSec - span };
}

/** Wanted span of a timeframe's bars. */
export function barSpanSeconds(timeframe: Timeframe): number {
  return TIMEFRAME_SECONDS[timeframe] === 1 ? WARM_SPAN_SECONDS.shortBars : WARM_SPAN_SECONDS.longBars;
}

/** The newest items within a budget, `timeSec` giving each one's market time in seconds. */
export function withinBudget<T>(items: readonly T[], budget: WarmBudget, timeSec: (item: T) => number): T[] {
  let start = items.length;
  while (start > 0 && items.length - start < budget.count && timeSec(items[start - 1]) >= budget.sinceSec) start--;
  return items.slice(start);
}
