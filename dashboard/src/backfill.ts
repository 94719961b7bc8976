/**
 * Deeper history for the chart of the selected symbol. The subscription snapshot counts messages,
 * and the bar in progress is republished on every tick, so a snapshot of N messages holds far fewer
 * than N bars. This pages back through `history` until the chart has TARGET_BARS seconds.
 *
 * After a reset (a restarted hub, trimmed history) the bars already on the chart are kept and the
 * new stream is paged back until it joins up with them, so a hole the hub can still replay (the
 * simulator re-publishes what it could not deliver during an outage) is filled in.
 */
import type { HubClient } from '../../client/hub-client.ts';
import { feedTopics, type Bar } from '../../protocol/feeds.ts';
import type { MarketStore, SymbolState } from './store.ts';
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
    /** History is exhausted for this stream generation (`gap` is what it could not fill, if anything). */
    private readonly onDone: (symbol: string, gap: [number, number] | null) => void = () => {},
  ) {}

  /** Fill `symbol` back to TARGET_BARS (and across a reset) if the hub still has it; cheap to call often. */
  request(symbol: string): void {
    const st = this.store.symbols.get(symbol);
    if (!st || st.barsFirstSeq === null || this.inflight.has(symbol)) return;
    if (!this.wanted(symbol, st) || this.done.get(symbol) === st.barsGen) return;
    this.inflight.add(symbol);
    this.run(symbol)
      .catch(() => {
        /* disconnected: retried on the next request */
      })
      .finally(() => this.inflight.delete(symbol));
  }

  private wanted(symbol: string, st: SymbolState): boolean {
    return st.bars.length < TARGET_BARS || this.store.resetGap(symbol) !== null;
  }

  private async run(symbol: string): Promise<void> {
    const topic = feedTopics.bar(symbol);
    const startGen = this.store.get(symbol).barsGen;
    for (let page = 0; page < MAX_PAGES; page++) {
      const st = this.store.get(symbol);
      const gen = st.barsGen;
      const first = st.barsFirstSeq;
      if (gen !== startGen || first === null) return;
      if (!this.wanted(symbol, st)) break;
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
      const changed = this.store.mergeHistory(symbol, [...latest.values()]);
      if (messages.length) st.barsFirstSeq = Math.min(first, messages[0].seq);
      if (changed) this.onBars(symbol);
      // Nothing older left (trimmed or the start of the topic).
      if (!messages.length || messages[0].seq > since + 1) break;
    }
    const st = this.store.get(symbol);
    if (st.barsGen !== startGen) return;
    this.done.set(symbol, st.barsGen);
    this.onDone(symbol, this.store.resetGap(symbol));
  }
}
