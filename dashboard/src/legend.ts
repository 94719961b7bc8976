/** Header of the chart panel: quote of the selected symbol and OHLCV of the hovered (or latest) bar. */
import type { Bar } from '../../protocol/feeds.ts';
import { setSign, setText } from './dom.ts';
import { fmtPct, fmtPrice, fmtQty, fmtSigned, fmtTime, signClass } from './format.ts';
import { invalidate } from './frame.ts';
import type { MarketStore } from './store.ts';
import { quoteOf } from './ticker.ts';
import type { Timeframe } from './timeframes.ts';

export interface LegendElements {
  symbol: HTMLElement;
  last: HTMLElement;
  change: HTMLElement;
  bid: HTMLElement;
  ask: HTMLElement;
  spread: HTMLElement;
  time: HTMLElement;
  open: HTMLElement;
  high: HTMLElement;
  low: HTMLElement;
  close: HTMLElement;
  volume: HTMLElement;
}

export class Legend {
  private symbol: string | null = null;
  private tf: Timeframe = '1s';
  private hovered: Bar | null = null;
  private readonly render = () => this.apply();

  constructor(
    private readonly els: LegendElements,
    private readonly store: MarketStore,
  ) {}

  setSymbol(symbol: string): void {
    this.symbol = symbol;
    this.hovered = null;
    invalidate(this.render);
  }

  setTimeframe(tf: Timeframe): void {
    this.tf = tf;
    this.hovered = null;
    invalidate(this.render);
  }

  hover(bar: Bar | null): void {
    this.hovered = bar;
    this.apply();
  }

  changed(symbol: string): void {
    if (symbol === this.symbol) invalidate(this.render);
  }

  private apply(): void {
    const e = this.els;
    if (this.symbol === null) return;
    const st = this.store.get(this.symbol);
    const d = st.decimals;
    setText(e.symbol, this.symbol);
    const q = quoteOf(this.store, st);
    setText(e.last, fmtPrice(q.last, d));
    setSign(e.last, st.prevLast === null || q.last === null ? 'flat' : signClass(q.last - st.prevLast));
    setText(e.change, q.chg === null ? '—' : `${fmtSigned(q.chg, d)} (${fmtPct(q.pct)})`);
    setSign(e.change, signClass(q.chg));
    setText(e.bid, fmtPrice(st.tick?.bid, d));
    setText(e.ask, fmtPrice(st.tick?.ask, d));
    setText(e.spread, st.tick ? fmtPrice(st.tick.ask - st.tick.bid, d) : '—');
    const bar = this.hovered ?? this.store.series(this.symbol, this.tf).bars.at(-1) ?? null;
    setText(e.time, bar ? fmtTime(bar.time * 1000) : '—');
    setText(e.open, fmtPrice(bar?.open, d));
    setText(e.high, fmtPrice(bar?.high, d));
    setText(e.low, fmtPrice(bar?.low, d));
    setText(e.close, fmtPrice(bar?.close, d));
    setText(e.volume, fmtQty(bar?.volume));
    const sign = bar ? signClass(bar.close - bar.open) : 'flat';
    for (const n of [e.open, e.high, e.low, e.close]) setSign(n, sign);
  }
}
