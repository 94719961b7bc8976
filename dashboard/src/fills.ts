/** Recent fills blotter, newest first. */
import { el } from './dom.ts';
import { fmtPrice, fmtQty, fmtTime } from './format.ts';
import { invalidate } from './frame.ts';
import type { MarketStore } from './store.ts';

const ROWS = 80;

export class FillsBlotter {
  private readonly render = () => this.apply();

  constructor(
    private readonly body: HTMLTableSectionElement,
    private readonly empty: HTMLElement,
    private readonly store: MarketStore,
    private readonly onSelect: (symbol: string) => void,
  ) {
    body.addEventListener('click', (ev) => {
      const sym = (ev.target as Element).closest('tr[data-symbol]')?.getAttribute('data-symbol');
      if (sym) this.onSelect(sym);
    });
  }

  changed(): void {
    invalidate(this.render);
  }

  private apply(): void {
    const fills = this.store.fills;
    const rows: HTMLTableRowElement[] = [];
    for (let i = fills.length - 1; i >= 0 && rows.length < ROWS; i--) {
      const f = fills[i];
      const d = this.store.symbols.get(f.symbol)?.decimals ?? 2;
      rows.push(
        el(
          'tr',
          { 'data-symbol': f.symbol, 'data-fill-id': String(f.id) },
          el('td', { class: 'time' }, fmtTime(f.time)),
          el('td', { class: 'sym' }, f.symbol),
          el('td', { class: `side ${f.side === 'buy' ? 'up' : 'down'}` }, f.side === 'buy' ? 'BUY' : 'SELL'),
          el('td', { class: 'num' }, fmtQty(f.qty)),
          el('td', { class: 'num' }, fmtPrice(f.price, d)),
        ),
      );
    }
    this.body.replaceChildren(...rows);
    this.empty.hidden = rows.length > 0;
  }
}
