/** Trades tape (time and sales) of the selected symbol: newest on top, coloured by aggressor. */
import { el } from './dom.ts';
import { fmtPrice, fmtQty, fmtTimeMs } from './format.ts';
import { invalidate } from './frame.ts';
import { MAX_TAPE, TradeTape, type TapePrint } from './trade-tape.ts';

export class TapePanel {
  readonly tape = new TradeTape();
  private drawnRebuilds = -1;
  private drawnAdded = 0;
  private decimals = 2;
  private readonly render = () => this.apply();

  constructor(
    private readonly body: HTMLTableSectionElement,
    private readonly empty: HTMLElement,
  ) {}

  /** Start over for another symbol. */
  reset(symbol: string, decimals: number): void {
    this.decimals = decimals;
    this.body.closest('table')?.setAttribute('data-symbol', symbol);
    this.tape.clear();
    invalidate(this.render);
  }

  add(trade: TapePrint, decimals: number): void {
    if (!this.tape.add(trade)) return;
    if (decimals !== this.decimals) {
      this.decimals = decimals;
      this.tape.rebuilds++;
    }
    invalidate(this.render);
  }

  private row(t: TapePrint, large: number): HTMLTableRowElement {
    const side = t.side === 'buy' ? 'up' : 'down';
    return el(
      'tr',
      { class: t.size >= large ? `${side} large` : side, 'data-trade-id': String(t.id), 'data-side': t.side },
      el('td', { class: 'time' }, fmtTimeMs(t.time)),
      el('td', { class: 'num' }, fmtPrice(t.price, this.decimals)),
      el('td', { class: 'num' }, fmtQty(t.size)),
      el('td', { class: 'side' }, t.side === 'buy' ? 'B' : 'S'),
    );
  }

  private apply(): void {
    const { trades } = this.tape;
    const large = this.tape.largeSize();
    if (this.tape.rebuilds !== this.drawnRebuilds) {
      this.body.replaceChildren(...trades.map((t) => this.row(t, large)));
    } else {
      // Only new prints on top: prepend them and let the oldest fall off the bottom.
      const fresh = Math.min(this.tape.added - this.drawnAdded, trades.length);
      const rows = trades.slice(0, fresh).map((t) => this.row(t, large));
      this.body.prepend(...rows);
      while (this.body.rows.length > MAX_TAPE) this.body.lastElementChild!.remove();
    }
    this.drawnRebuilds = this.tape.rebuilds;
    this.drawnAdded = this.tape.added;
    this.empty.hidden = trades.length > 0;
  }
}
