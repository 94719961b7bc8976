/** Watchlist: every symbol with last, change over the session and a sparkline of it; click selects. */
import { el, setSign, setText } from './dom.ts';
import { fmtPct, fmtPrice, signClass } from './format.ts';
import { invalidate } from './frame.ts';
import { sessionBars } from './session.ts';
import { sparkPoints } from './sparkline.ts';
import type { MarketStore } from './store.ts';
import { quoteOf } from './ticker.ts';

const SVG = 'http://www.w3.org/2000/svg';
/** Sparkline box (viewBox units; CSS sizes it). */
const SPARK_W = 80;
const SPARK_H = 18;

interface Row {
  tr: HTMLTableRowElement;
  last: HTMLElement;
  chg: HTMLElement;
  svg: SVGSVGElement;
  line: SVGPolylineElement;
  /** Bars drawn into the sparkline: count and newest close, to skip unchanged redraws. */
  drawn: string;
}

export class Watchlist {
  private readonly rows = new Map<string, Row>();
  private readonly dirty = new Set<string>();
  private selected: string | null = null;
  private readonly render = () => this.apply();

  constructor(
    private readonly body: HTMLTableSectionElement,
    private readonly store: MarketStore,
    private readonly onSelect: (symbol: string) => void,
  ) {
    body.addEventListener('click', (ev) => {
      const sym = (ev.target as Element).closest('tr[data-symbol]')?.getAttribute('data-symbol');
      if (sym) this.onSelect(sym);
    });
  }

  /** A symbol's quote or bars changed (or it is new). */
  changed(symbol: string): void {
    this.dirty.add(symbol);
    invalidate(this.render);
  }

  setSelected(symbol: string): void {
    this.selected = symbol;
    this.ensure(symbol);
    for (const [sym, row] of this.rows) {
      row.tr.classList.toggle('selected', sym === symbol);
      row.tr.setAttribute('aria-selected', String(sym === symbol));
    }
  }

  private ensure(symbol: string): Row {
    let row = this.rows.get(symbol);
    if (row) return row;
    const last = el('td', { class: 'num wl-last' }, '—');
    const chg = el('td', { class: 'num wl-chg flat' }, '—');
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', `0 0 ${SPARK_W} ${SPARK_H}`);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('class', 'wl-spark');
    svg.setAttribute('aria-hidden', 'true');
    const line = document.createElementNS(SVG, 'polyline');
    svg.append(line);
    const tr = el('tr', { 'data-symbol': symbol, 'aria-selected': String(symbol === this.selected) }, el('td', { class: 'sym' }, symbol), last, chg, el('td', { class: 'wl-spark-cell' }, svg));
    if (symbol === this.selected) tr.classList.add('selected');
    row = { tr, last, chg, svg, line, drawn: '' };
    this.rows.set(symbol, row);
    const order = [...this.rows.keys()].sort();
    const next = this.rows.get(order[order.indexOf(symbol) + 1]);
    this.body.insertBefore(tr, next?.tr ?? null);
    return row;
  }

  private apply(): void {
    for (const sym of this.dirty) {
      const st = this.store.symbols.get(sym);
      const row = this.ensure(sym);
      if (!st) continue;
      const q = quoteOf(this.store, st);
      setText(row.last, fmtPrice(q.last, st.decimals));
      setText(row.chg, fmtPct(q.pct));
      setSign(row.chg, signClass(q.chg));
      const bars = sessionBars(st.frames);
      const closes = bars.map((b) => b.close);
      if (q.last !== null && closes.length) closes[closes.length - 1] = q.last; // the live end
      const drawn = `${bars.length}:${bars[0]?.time}:${closes.at(-1)}`;
      if (drawn !== row.drawn) {
        row.drawn = drawn;
        row.line.setAttribute('points', sparkPoints(closes, SPARK_W, SPARK_H));
        setSign(row.svg, signClass(q.chg));
        row.tr.dataset.points = String(Math.min(closes.length, 120));
      }
    }
    this.dirty.clear();
  }
}
