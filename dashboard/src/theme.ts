/** Colors shared by CSS (see styles.css custom properties) and the canvas charts. */
import { ColorType, CrosshairMode, LineStyle, type ChartOptions, type DeepPartial } from 'lightweight-charts';

export const colors = {
  bg: '#0c0f14',
  panel: '#11151c',
  grid: '#1a202a',
  border: '#232b37',
  text: '#8b95a5',
  textStrong: '#d5dbe4',
  up: '#22c55e',
  down: '#ef4444',
  upVol: 'rgba(34, 197, 94, 0.32)',
  downVol: 'rgba(239, 68, 68, 0.32)',
  accent: '#f5a524',
  blue: '#3b82f6',
  crosshair: '#5b6578',
} as const;

export function baseChartOptions(): DeepPartial<ChartOptions> {
  return {
    autoSize: true,
    layout: {
      background: { type: ColorType.Solid, color: colors.panel },
      textColor: colors.text,
      fontSize: 11,
      fontFamily: "ui-monospace, 'JetBrains Mono', 'SFMono-Regular', Menlo, Consolas, 'DejaVu Sans Mono', monospace",
      attributionLogo: false,
    },
    grid: {
      vertLines: { color: colors.grid },
      horzLines: { color: colors.grid },
    },
    crosshair: {
      mode: CrosshairMode.Normal,
      vertLine: { color: colors.crosshair, style: LineStyle.Dashed, labelBackgroundColor: '#2a3342' },
      horzLine: { color: colors.crosshair, style: LineStyle.Dashed, labelBackgroundColor: '#2a3342' },
    },
    rightPriceScale: { borderColor: colors.border },
    timeScale: {
      borderColor: colors.border,
      timeVisible: true,
      secondsVisible: true,
      rightOffset: 6,
    },
  };
}
