/** Shape checks for feed payloads: anyone with the publish key can feed these topics. */
import type { Bar, Fill, PnlSnapshot, Tick, Trade } from '../../protocol/feeds.ts';

function obj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function nums(o: Record<string, unknown>, keys: string[]): boolean {
  for (const k of keys) if (typeof o[k] !== 'number' || !Number.isFinite(o[k])) return false;
  return true;
}

export function isBar(v: unknown): v is Bar {
  return obj(v) && nums(v, ['time', 'open', 'high', 'low', 'close']) && (v.volume === undefined || typeof v.volume === 'number');
}

export function isTick(v: unknown): v is Tick {
  return obj(v) && nums(v, ['last']);
}

export function isFill(v: unknown): v is Fill {
  return (
    obj(v) &&
    nums(v, ['id', 'qty', 'price', 'time']) &&
    typeof v.symbol === 'string' &&
    (v.side === 'buy' || v.side === 'sell')
  );
}

export function isPnl(v: unknown): v is PnlSnapshot {
  return obj(v) && nums(v, ['time', 'total']) && Array.isArray(v.positions);
}

export function isTrade(v: unknown): v is Trade {
  return obj(v) && nums(v, ['id', 'price', 'size', 'time']) && (v.side === 'buy' || v.side === 'sell');
}
