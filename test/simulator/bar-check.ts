/** Bar checks shared by the simulator's tests: independent of the simulator's own aggregation. */
import type { Bar } from '../../protocol/feeds.ts';

/** The last version of each bar of a topic, in time order. */
export function finals(log: readonly { topic: string; data: unknown }[], topic: string): Bar[] {
  const byTime = new Map<number, Bar>();
  for (const m of log) if (m.topic === topic) byTime.set((m.data as Bar).time, m.data as Bar);
  return [...byTime.values()];
}

/** The test's own aggregation (not the simulator's): group shorter bars into periods. */
export function aggregate(bars: Bar[], period: number): Bar[] {
  const out = new Map<number, Bar>();
  for (const b of bars) {
    const time = b.time - (b.time % period);
    const cur = out.get(time);
    if (!cur) out.set(time, { ...b, time });
    else out.set(time, { ...cur, high: Math.max(cur.high, b.high), low: Math.min(cur.low, b.low), close: b.close, volume: Math.round((cur.volume + b.volume) * 1e8) / 1e8 });
  }
  return [...out.values()];
}

