/** Rows of the depth ladder from a book's levels (no DOM here). */

/** [price, size], best first (bids highest first, asks lowest first), as in protocol/feeds.ts. */
export type Level = readonly [price: number, size: number];

export interface LadderRow {
  price: number;
  size: number;
  /** Size of this level and every better one on its side. */
  cum: number;
  /** size / the largest size shown on either side: the width of the size bar, 0..1. */
  sizeFrac: number;
  /** cum / the largest cum shown on either side: the width of the depth shade, 0..1. */
  cumFrac: number;
}

export interface Ladder {
  /** Best first. */
  bids: LadderRow[];
  /** Best first (the panel draws them upside down, best next to the spread). */
  asks: LadderRow[];
  /** Best ask - best bid; null unless both sides have a level. */
  spread: number | null;
  mid: number | null;
  /** spread / mid in basis points. */
  spreadBps: number | null;
}

/**
 * The best `depth` levels of each side, with cumulative sizes and bar widths scaled across both
 * sides (so the heavier side reads heavier). Levels of size <= 0 are not shown.
 *
 * @example
 * ladderRows([[99, 2], [98, 4]], [[101, 1]], 10).spread // 2
 */
export function ladderRows(bids: readonly Level[], asks: readonly Level[], depth: number): Ladder {
  const side = (levels: readonly Level[]) => {
    const rows: LadderRow[] = [];
    let cum = 0;
    for (const [price, size] of levels) {
      if (rows.length >= depth) break;
      if (!(size > 0) || !Number.isFinite(price)) continue;
      cum += size;
      rows.push({ price, size, cum, sizeFrac: 0, cumFrac: 0 });
    }
    return rows;
  };
  const b = side(bids);
  const a = side(asks);
  let maxSize = 0;
  let maxCum = 0;
  for (const r of [...b, ...a]) {
    maxSize = Math.max(maxSize, r.size);
    maxCum = Math.max(maxCum, r.cum);
  }
  for (const r of [...b, ...a]) {
    r.sizeFrac = maxSize > 0 ? r.size / maxSize : 0;
    r.cumFrac = maxCum > 0 ? r.cum / maxCum : 0;
  }
  const bestBid = b[0]?.price;
  const bestAsk = a[0]?.price;
  if (bestBid === undefined || bestAsk === undefined) return { bids: b, asks: a, spread: null, mid: null, spreadBps: null };
  const spread = bestAsk - bestBid;
  const mid = (bestAsk + bestBid) / 2;
  return { bids: b, asks: a, spread, mid, spreadBps: mid !== 0 ? (spread / mid) * 10_000 : null };
}
