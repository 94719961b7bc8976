/** The candle chart's timeframes (protocol/feeds.ts): lengths, keyboard shortcuts and their topics. */
import { TIMEFRAMES, TIMEFRAME_SECONDS, feedTopics, isTimeframe, type Timeframe } from '../../protocol/feeds.ts';

export { TIMEFRAMES, isTimeframe, type Timeframe };

/** Bar length in seconds. */
export const TF_SECONDS = TIMEFRAME_SECONDS;

/** `bars.<tf>.<SYM>`. */
export const barTopic = (tf: Timeframe, symbol: string): string => feedTopics.bars(tf, symbol);

/** The timeframe token of `bars.<tf>.<SYM>`, or null for anything else. */
export function timeframeOfTopic(topic: string): Timeframe | null {
  const parts = topic.split('.');
  return parts.length === 3 && parts[0] === 'bars' && isTimeframe(parts[1]) ? parts[1] : null;
}

/** Keys 1-5 pick the timeframes in order; anything else is null. */
export function timeframeForKey(key: string): Timeframe | null {
  const i = Number(key) - 1;
  return /^[1-9]$/.test(key) && i < TIMEFRAMES.length ? TIMEFRAMES[i] : null;
}
