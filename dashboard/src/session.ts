/** Which of a symbol's bar series tells "the session": what the watchlist's sparkline draws. */
import type { Bar } from '../../protocol/feeds.ts';
import type { BarSeries } from './bar-series.ts';
import { TIMEFRAMES, type Timeframe } from './timeframes.ts';

/**
 * The finest series that covers (nearly, 90%) the longest span held: after a warm start that is the
 * 1 m or 5 m series reaching back the whole session, while the 1 s series holds only the last hour.
 */
export function sessionBars(frames: ReadonlyMap<Timeframe, BarSeries>): readonly Bar[] {
  const span = (bars: readonly Bar[]) => (bars.length ? bars[bars.length - 1].time - bars[0].time : -1);
  let longest = -1;
  for (const s of frames.values()) longest = Math.max(longest, span(s.bars));
  if (longest < 0) return [];
  for (const tf of TIMEFRAMES) {
    const bars = frames.get(tf)?.bars;
    if (bars && bars.length >= 2 && span(bars) >= longest * 0.9) return bars;
  }
  for (const tf of TIMEFRAMES) {
    const bars = frames.get(tf)?.bars;
    if (bars?.length) return bars;
  }
  return [];
}
