/**
 * The trades of the selected symbol, newest first, bounded: what the tape panel draws. Trades are
 * deduplicated by id and time (a replay after a reset repeats some; a restarted simulator numbers
 * from 1 again) and kept in time order whatever order they arrive in.
 */

/** What the tape needs of a `trades.<SYM>` message (protocol/feeds.ts `Trade`). */
export interface TapePrint {
  id: number;
  price: number;
  size: number;
  side: 'buy' | 'sell';
  /** Unix milliseconds. */
  time: number;
}

/** Trades held (and rows drawn) for the selected symbol. */
export const MAX_TAPE = 200;

const keyOf = (t: TapePrint) => `${t.id}@${t.time}`;

export class TradeTape {
  /** Newest first. */
  readonly trades: TapePrint[] = [];
  private readonly keys = new Set<string>();
  /** Bumped when a trade lands anywhere but at the top (or on clear): the panel redraws all rows. */
  rebuilds = 0;
  /** Trades that landed at the top since the tape was created. */
  added = 0;

  /** Add a trade; false if it is already held (a replay) or older than everything a full tape holds. */
  add(trade: TapePrint): boolean {
    const key = keyOf(trade);
    if (this.keys.has(key)) return false;
    const list = this.trades;
    if (list.length >= MAX_TAPE && trade.time < list[list.length - 1].time) return false;
    let i = 0;
    while (i < list.length && (list[i].time > trade.time || (list[i].time === trade.time && list[i].id > trade.id))) i++;
    list.splice(i, 0, trade);
    this.keys.add(key);
    if (i === 0) this.added++;
    else this.rebuilds++;
    for (const old of list.splice(MAX_TAPE)) this.keys.delete(keyOf(old));
    return true;
  }

  clear(): void {
    this.trades.length = 0;
    this.keys.clear();
    this.rebuilds++;
  }

  /**
   * Size from which a print is "large" (drawn bold): 4x the median size held, so it adapts to
   * each symbol's typical trade; Infinity while fewer than 20 trades are known.
   */
  largeSize(): number {
    if (this.trades.length < 20) return Infinity;
    const sizes = this.trades.map((t) => t.size).sort((a, b) => a - b);
    return sizes[sizes.length >> 1] * 4;
  }
}
