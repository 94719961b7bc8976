/**
 * Candlestick + volume chart of the selected symbol and timeframe, with the portfolio's fills as markers.
 * Messages only touch the store; the chart is brought up to date once per animation frame:
 * `setData` when the symbol changes (or history was rewritten), then `update` of the bars that
 * changed since the last frame.
 */
import {
  CandlestickSeries,
  HistogramSeries,
  createChart,
  createSeriesMarkers,
  type CandlestickData,
  type HistogramData,
  type IChartApi,
  type ISeriesApi,
  type ISeriesMarkersPluginApi,
  type MouseEventParams,
  type SeriesMarker,
  type Time,
  type UTCTimestamp,
} from 'lightweight-charts';
import type { Bar, Fill } from '../../protocol/feeds.ts';
import { invalidate } from './frame.ts';
import { fillKey, type BarChange, type MarketStore } from './store.ts';
import { baseChartOptions, colors } from './theme.ts';
import { TF_SECONDS, type Timeframe } from './timeframes.ts';

/** Contract with the browser tests (see dashboard/README.md). */
export interface TickhubProbe {
  /** Bars handed to the chart so far (setData counts every bar, update counts one). */
  barsDrawn: number;
  /** Time (UTC seconds) of the newest bar on the chart, null while it is empty. */
  lastBarTime: number | null;
  /** Hub messages received. */
  messages: number;
  /** Symbol on the chart. */
  symbol: string | null;
  /** Timeframe on the chart. */
  timeframe: Timeframe;
  /** Animation frames that applied chart updates. */
  chartFrames: number;
  /** Animation frames that ran any render work (every panel draws in these, see frame.ts). */
  frames: number;
  /** Bar times (UTC seconds) of the chart's data (selected symbol and timeframe), ascending. */
  barTimes(): number[];
}

/** More pending bars than this and a full setData is cheaper than many updates. */
const MAX_INCREMENTAL = 120;
/** Bars visible after a symbol switch. */
const VISIBLE_BARS = 150;

function candle(bar: Bar): CandlestickData<Time> {
  return { time: bar.time as UTCTimestamp, open: bar.open, high: bar.high, low: bar.low, close: bar.close };
}

function volume(bar: Bar): HistogramData<Time> {
  return {
    time: bar.time as UTCTimestamp,
    value: bar.volume,
    color: bar.close >= bar.open ? colors.upVol : colors.downVol,
  };
}

/** The open time of the bar of `step` seconds that holds Unix-ms `ms`. */
const barTimeOf = (ms: number, step: number) => Math.floor(ms / 1000 / step) * step;

function marker(fill: Fill, step: number): SeriesMarker<Time> {
  const buy = fill.side === 'buy';
  return {
    time: barTimeOf(fill.time, step) as UTCTimestamp,
    position: buy ? 'belowBar' : 'aboveBar',
    shape: buy ? 'arrowUp' : 'arrowDown',
    color: buy ? colors.up : colors.down,
    id: fillKey(fill),
  };
}

export class CandleChart {
  private readonly chart: IChartApi;
  private readonly candles: ISeriesApi<'Candlestick'>;
  private readonly volumes: ISeriesApi<'Histogram'>;
  private readonly markers: ISeriesMarkersPluginApi<Time>;
  private symbol: string | null = null;
  private tf: Timeframe = '1s';
  private needsFull = true;
  private fitOnFull = true;
  /** The user scrolled or zoomed since the symbol was selected: leave the view alone. */
  private userMoved = false;
  private markersDirty = true;
  private barsDirty = false;
  private appliedDecimals = -1;
  /** Time of the newest bar applied to the chart. */
  private appliedTime: number | null = null;
  /** A marker lies beyond the last bar: re-place markers when bars arrive. */
  private markersAhead = false;
  private readonly render = () => this.apply();

  constructor(
    container: HTMLElement,
    private readonly store: MarketStore,
    private readonly probe: TickhubProbe,
    private readonly onHover: (bar: Bar | null) => void,
  ) {
    this.chart = createChart(container, {
      ...baseChartOptions(),
      rightPriceScale: { borderColor: colors.border, scaleMargins: { top: 0.08, bottom: 0.24 } },
    });
    this.chart.timeScale().applyOptions({ maxBarSpacing: 18, barSpacing: 7 });
    this.candles = this.chart.addSeries(CandlestickSeries, {
      upColor: colors.up,
      downColor: colors.down,
      borderUpColor: colors.up,
      borderDownColor: colors.down,
      wickUpColor: colors.up,
      wickDownColor: colors.down,
      priceLineVisible: true,
      lastValueVisible: true,
    });
    this.volumes = this.chart.addSeries(HistogramSeries, {
      priceScaleId: 'volume',
      priceFormat: { type: 'volume' },
      lastValueVisible: false,
      priceLineVisible: false,
    });
    this.chart.priceScale('volume').applyOptions({ scaleMargins: { top: 0.8, bottom: 0 }, visible: false });
    this.markers = createSeriesMarkers(this.candles, [], { autoScale: true });
    this.chart.subscribeCrosshairMove((p) => this.hover(p));
    const moved = () => {
      this.userMoved = true;
    };
    container.addEventListener('wheel', moved, { passive: true });
    container.addEventListener('pointerdown', moved);
    container.addEventListener('touchstart', moved, { passive: true });
  }

  get current(): string | null {
    return this.symbol;
  }

  get timeframe(): Timeframe {
    return this.tf;
  }

  /** Whether the chart shows this series. */
  shows(symbol: string, tf: Timeframe): boolean {
    return symbol === this.symbol && tf === this.tf;
  }

  setSymbol(symbol: string): void {
    if (symbol === this.symbol) return;
    this.symbol = symbol;
    this.probe.symbol = symbol;
    this.redrawAll();
  }

  /** Switch timeframe: the store already holds the series (snapshot and backfill), so it is drawn at once. */
  setTimeframe(tf: Timeframe): void {
    if (tf === this.tf) return;
    this.tf = tf;
    this.probe.timeframe = tf;
    this.chart.timeScale().applyOptions({ secondsVisible: tf === '1s' });
    this.redrawAll();
  }

  private redrawAll(): void {
    this.needsFull = true;
    this.fitOnFull = true;
    this.userMoved = false;
    this.markersDirty = true;
    invalidate(this.render);
  }

  /** A bar of `symbol` in `tf` changed in the store. */
  barChanged(symbol: string, tf: Timeframe, change: BarChange): void {
    if (!this.shows(symbol, tf)) return;
    if (change === 'history') this.needsFull = true;
    this.barsDirty = true;
    invalidate(this.render);
  }

  /** Older bars of `symbol` in `tf` were added from history. */
  backfilled(symbol: string, tf: Timeframe): void {
    if (!this.shows(symbol, tf)) return;
    this.needsFull = true;
    if (!this.userMoved) this.fitOnFull = true;
    invalidate(this.render);
  }

  fillsChanged(symbol: string | null): void {
    if (symbol !== null && symbol !== this.symbol) return;
    this.markersDirty = true;
    invalidate(this.render);
  }

  /** The stream of `symbol` in `tf` was reset: the bars stay, what follows is merged (maybe out of order). */
  reset(symbol: string, tf: Timeframe): void {
    if (!this.shows(symbol, tf)) return;
    this.needsFull = true;
    this.markersDirty = true;
    invalidate(this.render);
  }

  private apply(): void {
    if (this.symbol === null) return;
    const st = this.store.get(this.symbol);
    const bars = this.store.series(this.symbol, this.tf).bars;
    let drawn = 0;
    if (this.barsDirty && !this.needsFull) {
      // Bars at or after the last applied time changed since the previous frame.
      let i = bars.length;
      if (this.appliedTime === null) i = 0;
      else while (i > 0 && bars[i - 1].time >= this.appliedTime) i--;
      if (i === bars.length || bars.length - i > MAX_INCREMENTAL) this.needsFull = true;
      else {
        for (let k = i; k < bars.length; k++) {
          this.candles.update(candle(bars[k]));
          this.volumes.update(volume(bars[k]));
          drawn++;
        }
      }
    }
    this.barsDirty = false;
    if (st.decimals !== this.appliedDecimals) {
      this.appliedDecimals = st.decimals;
      this.candles.applyOptions({
        priceFormat: { type: 'price', precision: st.decimals, minMove: 10 ** -st.decimals },
      });
    }
    if (this.needsFull) {
      this.needsFull = false;
      this.candles.setData(bars.map(candle));
      this.volumes.setData(bars.map(volume));
      drawn = bars.length;
      this.markersDirty = true;
      if (this.fitOnFull && bars.length) {
        this.fitOnFull = false;
        this.chart.timeScale().setVisibleLogicalRange({ from: Math.max(0, bars.length - VISIBLE_BARS), to: bars.length + 6 });
      }
    }
    const last = bars[bars.length - 1];
    const newLast = last ? last.time : null;
    if (this.markersAhead && newLast !== this.appliedTime) this.markersDirty = true;
    this.appliedTime = newLast;
    if (this.markersDirty) this.applyMarkers();
    if (drawn > 0) {
      this.probe.barsDrawn += drawn;
      this.probe.chartFrames++;
    }
    this.probe.lastBarTime = newLast;
  }

  private applyMarkers(): void {
    this.markersDirty = false;
    if (this.symbol === null) return;
    const st = this.store.get(this.symbol);
    const bars = this.store.series(this.symbol, this.tf).bars;
    const step = TF_SECONDS[this.tf];
    const first = bars[0]?.time;
    const lastBar = bars[bars.length - 1]?.time;
    if (first === undefined || lastBar === undefined) {
      this.markers.setMarkers([]);
      this.markersAhead = st.fills.length > 0;
      return;
    }
    const list: SeriesMarker<Time>[] = [];
    let ahead = false;
    for (const fill of st.fills) {
      const t = barTimeOf(fill.time, step);
      if (t < first) continue;
      if (t > lastBar) {
        ahead = true;
        continue; // placed when its bar exists
      }
      list.push(marker(fill, step));
    }
    this.markersAhead = ahead;
    this.markers.setMarkers(list);
  }

  private hover(p: MouseEventParams<Time>): void {
    const data = p.seriesData.get(this.candles) as CandlestickData<Time> | undefined;
    if (!data || p.time === undefined || this.symbol === null) {
      this.onHover(null);
      return;
    }
    const vol = p.seriesData.get(this.volumes) as HistogramData<Time> | undefined;
    this.onHover({
      symbol: this.symbol,
      time: data.time as number,
      open: data.open,
      high: data.high,
      low: data.low,
      close: data.close,
      volume: vol?.value ?? 0,
    });
  }
}
