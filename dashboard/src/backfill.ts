/**
 * Deeper history for the chart of the selected symbol. The subscription snapshot counts messages,
 * and the bar in progress is republished on every tick, so a snapshot of N messages holds far fewer
 * than N bars. This pages back through `history` until the chart has TARGET_BARS seconds.
 */
import type { HubClient } from '../../server/protocol/client.ts';
import { feedTopics, type Bar } from '../../server/protocol/feeds.ts';
import type { MarketStore } from './store.ts';
import { isBar } from './validate.ts';

const TARGET_BARS = 600;
const PAGE = 2000;
const MAX_PAGES = 6;

export class Backfill {
  private readonly inflight = new Set<string>();
  /** symbol -> barsGen for which history is exhausted (or failed). */
  private readonly done = new Map<string, number>();

  constructor(
    private readonly hub: HubClient,
    private readonly store: MarketStore,
    private readonly onBars: (symbol: string) => void,
  ) {}

  /** Fill `symbol` back to TARGET_BARS if the hub still has it; cheap to call often. */
  request(symbol: string): void {
    const st = this.store.symbols.get(symbol);
    if (!st || st.barsFirstSeq === null || this.inflight.has(symbol)) return;
    if (st.bars.length >= TARGET_BARS || this.done.get(symbol) === st.barsGen) return;
    this.inflight.add(symbol);
    this.run(symbol)
      .catch(() => {
        /* disconnected: retried on the next request */
      })
      .finally(() => this.inflight.delete(symbol));
  }

  private async run(symbol: string): Promise<void> {
    const topic = feedTopics.bar(symbol);
    for (let page = 0; page < MAX_PAGES; page++) {
      const st = this.store.get(symbol);
      const gen = st.barsGen;
      const first = st.barsFirstSeq;
      if (first === null || st.bars.length >= TARGET_BARS) return;
      if (first <= 1) break;
      const since = Math.max(0, first - 1 - PAGE);
      const messages = await this.hub.history(topic, { since, limit: first - 1 - since });
      if (st.barsGen !== gen) return; // reset while we waited
      const latest = new Map<number, Bar>();
      for (const m of messages) {
        if (m.seq >= first || !isBar(m.data)) continue;
        const time = m.data.time > 1e11 ? Math.floor(m.data.time / 1000) : m.data.time;
        latest.set(time, { ...m.data, symbol, time, volume: m.data.volume ?? 0 });
      }
      const added = this.store.prependBars(symbol, [...latest.values()]);
      if (messages.length) st.barsFirstSeq = Math.min(first, messages[0].seq);
      if (added) this.onBars(symbol);
      // Nothing older left (trimmed or the start of the topic).
      if (!messages.length || messages[0].seq > since + 1) break;
    }
    this.done.set(symbol, this.store.get(symbol).barsGen);
  }
}
