/** Ticker strip (last price and change per symbol; click to select) and the symbol switcher. */
import { el, setSign, setText } from './dom.ts';
import { fmtPct, fmtPrice, signClass } from './format.ts';
import { invalidate } from './frame.ts';
import type { MarketStore, SymbolState } from './store.ts';

interface Item {
  root: HTMLButtonElement;
  last: HTMLElement;
  chg: HTMLElement;
  /** Last price the flash was computed for. */
  shown: number | null;
}

/** Last price and change versus the reference price of a symbol. */
export function quoteOf(store: MarketStore, st: SymbolState): { last: number | null; chg: number | null; pct: number | null } {
  const last = store.lastPrice(st);
  const ref = store.refPrice(st);
  if (last === null || ref === null || ref === 0) return { last, chg: null, pct: null };
  return { last, chg: last - ref, pct: ((last - ref) / ref) * 100 };
}

export class Ticker {
  private readonly items = new Map<string, Item>();
  private readonly dirty = new Set<string>();
  private selected: string | null = null;
  private readonly render = () => this.apply();

  constructor(
    private readonly strip: HTMLElement,
    private readonly select: HTMLSelectElement,
    private readonly store: MarketStore,
    private readonly onSelect: (symbol: string) => void,
  ) {
    strip.addEventListener('click', (ev) => {
      const btn = (ev.target as Element).closest('[data-symbol]');
      const sym = btn?.getAttribute('data-symbol');
      if (sym) this.onSelect(sym);
    });
    select.addEventListener('change', () => {
      if (select.value) this.onSelect(select.value);
    });
  }

  /** A symbol's quote changed (or it is new). */
  changed(symbol: string): void {
    this.dirty.add(symbol);
    invalidate(this.render);
  }

  setSelected(symbol: string): void {
    this.selected = symbol;
    this.ensure(symbol);
    for (const [sym, item] of this.items) {
      item.root.classList.toggle('active', sym === symbol);
      item.root.setAttribute('aria-pressed', String(sym === symbol));
    }
    if (this.select.value !== symbol) this.select.value = symbol;
    this.items.get(symbol)?.root.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }

  private ensure(symbol: string): Item {
    let item = this.items.get(symbol);
    if (item) return item;
    const last = el('span', { class: 'tk-last' }, '—');
    const chg = el('span', { class: 'tk-chg flat' }, '—');
    const root = el(
      'button',
      { class: 'tk', type: 'button', 'data-symbol': symbol, 'aria-pressed': String(symbol === this.selected) },
      el('span', { class: 'tk-sym' }, symbol),
      last,
      chg,
    );
    if (symbol === this.selected) root.classList.add('active');
    item = { root, last, chg, shown: null };
    this.items.set(symbol, item);
    // Keep both the strip and the select in symbol order.
    const order = [...this.items.keys()].sort();
    const idx = order.indexOf(symbol);
    const next = idx + 1 < order.length ? this.items.get(order[idx + 1])!.root : null;
    this.strip.insertBefore(root, next);
    const option = el('option', { value: symbol }, symbol);
    const nextOpt = idx + 1 < order.length ? this.select.querySelector(`option[value="${CSS.escape(order[idx + 1])}"]`) : null;
    this.select.insertBefore(option, nextOpt);
    if (this.selected !== null) this.select.value = this.selected;
    return item;
  }

  private apply(): void {
    for (const sym of this.dirty) {
      const st = this.store.symbols.get(sym);
      const item = this.ensure(sym);
      if (!st) continue;
      const q = quoteOf(this.store, st);
      setText(item.last, fmtPrice(q.last, st.decimals));
      setText(item.chg, fmtPct(q.pct));
      setSign(item.chg, signClass(q.chg));
      if (q.last !== null && item.shown !== null && q.last !== item.shown) {
        const up = q.last > item.shown;
        setSign(item.last, up ? 'up' : 'down');
        item.last.animate(
          [{ backgroundColor: up ? 'rgba(34,197,94,0.22)' : 'rgba(239,68,68,0.22)' }, { backgroundColor: 'transparent' }],
          { duration: 350, easing: 'ease-out' },
        );
      }
      item.shown = q.last;
    }
    this.dirty.clear();
  }
}
