/** P&L curve (total, baseline at zero), totals and the positions table. */
import { BaselineSeries, LineStyle, type AutoscaleInfo, createChart, type IChartApi, type ISeriesApi, type Time, type UTCTimestamp } from 'lightweight-charts';
import type { PositionPnl } from '../../protocol/feeds.ts';
import { el, setSign, setText } from './dom.ts';
import { fmtMoney, fmtPrice, fmtQty, signClass } from './format.ts';
import { invalidate } from './frame.ts';
import type { MarketStore } from './store.ts';
import { baseChartOptions, colors } from './theme.ts';

export interface PnlElements {
  chart: HTMLElement;
  total: HTMLElement;
  realized: HTMLElement;
  unrealized: HTMLElement;
  /** `<tbody>` of the positions table. */
  positions: HTMLTableSectionElement;
  /** Shown while no positions are known. */
  empty: HTMLElement;
}

export class PnlPanel {
  private readonly chart: IChartApi;
  private readonly series: ISeriesApi<'Baseline'>;
  private needsFull = true;
  private appliedTime: number | null = null;
  private readonly rows = new Map<string, HTMLTableRowElement>();
  private readonly render = () => this.apply();

  constructor(
    private readonly els: PnlElements,
    private readonly store: MarketStore,
    private readonly onSelect: (symbol: string) => void,
    private readonly decimalsOf: (symbol: string) => number,
  ) {
    this.chart = createChart(els.chart, {
      ...baseChartOptions(),
      rightPriceScale: { borderColor: colors.border, scaleMargins: { top: 0.12, bottom: 0.08 } },
      handleScroll: { mouseWheel: false, pressedMouseMove: true },
      handleScale: { mouseWheel: false },
    });
    this.series = this.chart.addSeries(BaselineSeries, {
      baseValue: { type: 'price', price: 0 },
      topLineColor: colors.up,
      topFillColor1: 'rgba(34, 197, 94, 0.28)',
      topFillColor2: 'rgba(34, 197, 94, 0.02)',
      bottomLineColor: colors.down,
      bottomFillColor1: 'rgba(239, 68, 68, 0.02)',
      bottomFillColor2: 'rgba(239, 68, 68, 0.28)',
      lineWidth: 2,
      priceFormat: { type: 'price', precision: 2, minMove: 0.01 },
      // Keep zero in view: P&L is read against it.
      autoscaleInfoProvider: (original: () => AutoscaleInfo | null) => {
        const info = original();
        if (!info?.priceRange) return info;
        const { minValue, maxValue } = info.priceRange;
        return { ...info, priceRange: { minValue: Math.min(minValue, 0), maxValue: Math.max(maxValue, 0) } };
      },
    });
    this.series.createPriceLine({
      price: 0,
      color: '#3a4454',
      lineWidth: 1,
      lineStyle: LineStyle.Dotted,
      axisLabelVisible: false,
    });
    els.positions.addEventListener('click', (ev) => {
      const row = (ev.target as Element).closest('tr[data-symbol]');
      const sym = row?.getAttribute('data-symbol');
      if (sym) this.onSelect(sym);
    });
  }

  changed(): void {
    invalidate(this.render);
  }

  reset(): void {
    this.needsFull = true;
    invalidate(this.render);
  }

  /** Mark the selected symbol's row. */
  select(symbol: string | null): void {
    for (const [sym, row] of this.rows) row.classList.toggle('selected', sym === symbol);
  }

  private apply(): void {
    const h = this.store.pnlHistory;
    if (this.needsFull || this.appliedTime === null) {
      this.needsFull = false;
      this.series.setData(h.map((p) => ({ time: p.time as UTCTimestamp, value: p.value })));
      if (h.length) this.chart.timeScale().fitContent();
    } else {
      let i = h.length;
      while (i > 0 && h[i - 1].time >= this.appliedTime) i--;
      for (let k = i; k < h.length; k++) this.series.update({ time: h[k].time as Time, value: h[k].value });
    }
    this.appliedTime = h.length ? h[h.length - 1].time : null;
    this.renderTotals();
    this.renderPositions();
  }

  private renderTotals(): void {
    const snap = this.store.pnl;
    const pairs: [HTMLElement, number | undefined][] = [
      [this.els.total, snap?.total],
      [this.els.realized, snap?.realized],
      [this.els.unrealized, snap?.unrealized],
    ];
    for (const [node, v] of pairs) {
      setText(node, fmtMoney(v));
      setSign(node, signClass(v));
    }
  }

  private renderPositions(): void {
    const positions = this.store.pnl?.positions ?? [];
    const seen = new Set<string>();
    const sorted = [...positions].sort((a, b) => a.symbol.localeCompare(b.symbol));
    let prev: HTMLTableRowElement | null = null;
    for (const p of sorted) {
      seen.add(p.symbol);
      let row = this.rows.get(p.symbol);
      if (!row) {
        row = this.makeRow(p.symbol);
        this.rows.set(p.symbol, row);
      }
      const wanted: Node | null = prev ? prev.nextSibling : this.els.positions.firstChild;
      if (wanted !== row) this.els.positions.insertBefore(row, wanted);
      this.fillRow(row, p);
      prev = row;
    }
    for (const [sym, row] of this.rows) {
      if (!seen.has(sym)) {
        row.remove();
        this.rows.delete(sym);
      }
    }
    this.els.empty.hidden = sorted.length > 0;
  }

  private makeRow(symbol: string): HTMLTableRowElement {
    const row = el('tr', { 'data-symbol': symbol, title: `Show ${symbol}` });
    for (const cls of ['sym', 'num qty', 'num', 'num', 'num upl', 'num rpl']) row.append(el('td', { class: cls }));
    row.cells[0].textContent = symbol;
    return row;
  }

  private fillRow(row: HTMLTableRowElement, p: PositionPnl): void {
    const d = this.decimalsOf(p.symbol);
    const c = row.cells;
    setText(c[1], fmtQty(p.qty));
    setSign(c[1], signClass(p.qty));
    setText(c[2], fmtPrice(p.avgPrice, d));
    setText(c[3], fmtPrice(p.last, d));
    setText(c[4], fmtMoney(p.unrealized));
    setSign(c[4], signClass(p.unrealized));
    setText(c[5], fmtMoney(p.realized));
    setSign(c[5], signClass(p.realized));
    row.classList.toggle('flat-pos', p.qty === 0);
  }
}
