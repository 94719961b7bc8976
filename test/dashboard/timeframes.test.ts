import { describe, expect, it } from 'vitest';
import { TIMEFRAMES, TF_SECONDS, barTopic, isTimeframe, timeframeForKey, timeframeOfTopic } from '../../dashboard/src/timeframes.ts';

describe('timeframes', () => {
  it('#timeframeForKey maps keys 1-5 to the timeframes in order, anything else to null', () => {
    expect(['1', '2', '3', '4', '5'].map(timeframeForKey)).toEqual([...TIMEFRAMES]);
    for (const k of ['0', '6', 'a', '', '1.5', ' ']) expect(timeframeForKey(k)).toBeNull();
  });

  it('#timeframeOfTopic reads bars.<tf>.<SYM> and nothing else', () => {
    expect(timeframeOfTopic('bars.15m.BTC-USD')).toBe('15m');
    expect(timeframeOfTopic(barTopic('1h', 'AAPL'))).toBe('1h');
    expect(timeframeOfTopic('bars.2m.AAPL')).toBeNull();
    expect(timeframeOfTopic('ticks.AAPL')).toBeNull();
    expect(timeframeOfTopic('bars.1s')).toBeNull();
  });

  it('#TF_SECONDS grows with the timeframe and #isTimeframe rejects others', () => {
    const secs = TIMEFRAMES.map((tf) => TF_SECONDS[tf]);
    expect(secs).toEqual([1, 60, 300, 900, 3600]);
    expect(isTimeframe('5m')).toBe(true);
    expect(isTimeframe('5M')).toBe(false);
    expect(isTimeframe(5)).toBe(false);
  });
});
