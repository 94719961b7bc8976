/** Number and time formatting shared by the panels. All times are shown in UTC. */

const groupFormats = new Map<number, Intl.NumberFormat>();

function grouped(decimals: number): Intl.NumberFormat {
  let f = groupFormats.get(decimals);
  if (!f) {
    f = new Intl.NumberFormat('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
    groupFormats.set(decimals, f);
  }
  return f;
}

/** Decimals worth showing for a price of this magnitude. */
export function decimalsForMagnitude(price: number): number {
  const a = Math.abs(price);
  if (a >= 10) return 2;
  if (a >= 1) return 4;
  if (a >= 0.01) return 5;
  return 8;
}

/** Decimals actually used by a value (at most 8), e.g. 190.5 -> 1. */
export function decimalsUsed(value: number): number {
  if (!Number.isFinite(value)) return 0;
  const s = value.toFixed(8).replace(/0+$/, '');
  const dot = s.indexOf('.');
  return dot < 0 ? 0 : s.length - dot - 1;
}

export function fmtPrice(v: number | null | undefined, decimals = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return grouped(decimals).format(v);
}

export function fmtSigned(v: number | null | undefined, decimals = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const s = grouped(decimals).format(Math.abs(v));
  return v > 0 ? `+${s}` : v < 0 ? `−${s}` : s;
}

export function fmtPct(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return `${fmtSigned(v, 2)}%`;
}

/** Quantities and volumes: grouped integers, compact above a million. */
export function fmtQty(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(2)}B`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  return grouped(Number.isInteger(v) ? 0 : Math.min(decimalsUsed(v), 4)).format(v);
}

/** Money, signed, grouped: +12,345.67 */
export function fmtMoney(v: number | null | undefined): string {
  return fmtSigned(v, 2);
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** HH:MM:SS (UTC) of a Unix-milliseconds time. */
export function fmtTime(ms: number): string {
  const d = new Date(ms);
  return `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}

/** Durations in ms: 850 ms, 3.2 s, 4 m 05 s, 2 h 07 m. */
export function fmtDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${pad2(Math.floor(s % 60))} s`;
  return `${Math.floor(m / 60)} h ${pad2(m % 60)} m`;
}

/** Sign class for coloring: 'up', 'down' or 'flat'. */
export function signClass(v: number | null | undefined): 'up' | 'down' | 'flat' {
  if (v === null || v === undefined || !Number.isFinite(v) || v === 0) return 'flat';
  return v > 0 ? 'up' : 'down';
}

/** 65536 -> 64 KiB. */
export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${+(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** HH:MM:SS.mmm (UTC) of a Unix-milliseconds time. */
export function fmtTimeMs(ms: number): string {
  const frac = String(((ms % 1000) + 1000) % 1000).padStart(3, '0');
  return `${fmtTime(ms)}.${frac}`;
}
