/** The candle chart's timeframes: names, lengths, keyboard shortcuts and their topics. */

export const TIMEFRAMES = ['1s', '1m', '5m', '15m', '1h'] as const;
export type Timeframe = (typeof TIMEFRAMES)[number];

/** Bar length in seconds. */
export const TF_SECONDS: Record<Timeframe, number> = { '1s': 1, '1m': 60, '5m': 300, '15m': 900, '1h': 3600 };

export function isTimeframe(v: unknown): v is Timeframe {
  return typeof v === 'string' && (TIMEFRAMES as readonly string[]).includes(v);
}

/** `bars.<tf>.<SYM>`. */
export function barTopic(tf: Timeframe, symbol: string): string {
  return `bars.${tf}.${symbol}`;
}

/** The timeframe token of `bars.<tf>.<SYM>`, or null for anything else. */
export function timeframeOfTopic(topic: string): Timeframe | null {
  const parts = topic.split('.');
  return parts.length === 3 && parts[0] === 'bars' && isTimeframe(parts[1]) ? parts[1] : null;
}

/** Keys 1-5 pick the timeframes in order; anything else is null. */
export function timeframeForKey(key: string): Timeframe | null {
  const i = Number(key) - 1;
  return Number.isInteger(i) && i >= 0 && i < TIMEFRAMES.length ? TIMEFRAMES[i] : null;
}
