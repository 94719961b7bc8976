/**
 * Deeper history for the chart of the selected symbol and timeframe. The subscription snapshot
 * counts messages, and the bar in progress is republished on every tick, so a snapshot of N
 * messages holds far fewer than N bars. This pages back through `history` until the chart has
 * TARGET_BARS bars.
 *
 * After a reset (a restarted hub, trimmed history) the bars already on the chart are kept and the
 * new stream is paged back until it joins up with them, so a hole the hub can still replay (the
 * simulator re-publishes what it could not deliver during an outage) is filled in.
 */
import type { HubClient } from '../../client/hub-client.ts';
import type { Bar } from '../../protocol/feeds.ts';
import type { BarSeries } from './bar-series.ts';
import type { MarketStore } from './store.ts';
import { barTopic, type Timeframe } from './timeframes.ts';
import { isBar } from './validate.ts';

/** Bars wanted on the chart: a few screens of 1 s bars, a day of 1 m bars, all the hub has of the rest. */
const TARGET_BARS: Record<Timeframe, number> = { '1s': 600, '1m': 1440, '5m': 288, '15m': 96, '1h': 24 };
/** Messages per history page: about 4000 x 180 bytes, inside the default MAX_HISTORY_BYTES (1 MiB). */
const PAGE = 4000;
const MAX_PAGES = 6;

export class Backfill {
  private readonly inflight = new Set<string>();
  /** topic -> barsGen for which history is exhausted (or failed). */
  private readonly done = new Map<string, number>();

  constructor(
    private readonly hub: HubClient,
    private readonly store: MarketStore,
    private readonly onBars: (symbol: string, tf: Timeframe) => void,
    /** History is exhausted for this stream generation (`gap` is what it could not fill, if anything). */
    private readonly onDone: (symbol: string, tf: Timeframe, gap: [number, number] | null) => void = () => {},
  ) {}

  /** Fill `symbol` in `tf` back to TARGET_BARS (and across a reset) if the hub still has it; cheap to call often. */
  request(symbol: string, tf: Timeframe): void {
    const series = this.store.symbols.get(symbol)?.frames.get(tf);
    const topic = barTopic(tf, symbol);
    if (!series || series.barsFirstSeq === null || this.inflight.has(topic)) return;
    if (!this.wanted(series, tf) || this.done.get(topic) === series.barsGen) return;
    this.inflight.add(topic);
    this.run(symbol, tf, series)
      .catch(() => {
        /* disconnected: retried on the next request */
      })
      .finally(() => this.inflight.delete(topic));
  }

  private wanted(series: BarSeries, tf: Timeframe): boolean {
    return series.bars.length < TARGET_BARS[tf] || series.resetGap() !== null;
  }

  private async run(symbol: string, tf: Timeframe, st: BarSeries): Promise<void> {
    const topic = barTopic(tf, symbol);
    const startGen = st.barsGen;
    for (let page = 0; page < MAX_PAGES; page++) {
      const gen = st.barsGen;
      const first = st.barsFirstSeq;
      if (gen !== startGen || first === null) return;
      if (!this.wanted(st, tf)) break;
      if (first <= 1) break;
      const since = Math.max(0, first - 1 - PAGE);
      const messages = await this.hub.history(topic, { since, limit: first - 1 - since });
      if (st.barsGen !== gen) return; // reset while we waited
      const latest = new Map<number, { bar: Bar; seq: number }>();
      for (const m of messages) {
        if (m.seq >= first || !isBar(m.data)) continue;
        const time = m.data.time > 1e11 ? Math.floor(m.data.time / 1000) : m.data.time;
        latest.set(time, { bar: { ...m.data, symbol, time, volume: m.data.volume ?? 0 }, seq: m.seq });
      }
      const changed = this.store.mergeHistory(symbol, [...latest.values()], tf);
      if (messages.length) st.barsFirstSeq = Math.min(first, messages[0].seq);
      if (changed) this.onBars(symbol, tf);
      // Nothing older left (trimmed or the start of the topic).
      if (!messages.length || messages[0].seq > since + 1) break;
    }
    if (st.barsGen !== startGen) return;
    this.done.set(topic, st.barsGen);
    this.onDone(symbol, tf, st.resetGap());
  }
}
