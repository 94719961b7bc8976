/**
 * Depth ladder of the selected symbol: asks above, bids below, best prices meeting at the spread
 * and mid; each level with its size, the running total, and bars for both. Drawn once per
 * animation frame from the `BookFeed`; the header says whether the book is checksum-verified
 * (`live`) or being resynced, and keeps a marker of the last resync for a few seconds.
 */
import { BOOK_DEPTH } from '../../protocol/feeds.ts';
import type { BookFeed } from './book-feed.ts';
import { el, setText } from './dom.ts';
import { fmtPrice, fmtQty } from './format.ts';
import { invalidate } from './frame.ts';
import { ladderRows, type LadderRow } from './ladder-rows.ts';

/** How long the "resynced" marker stays after the book is back. */
const MARKER_MS = 8000;

interface LevelRow {
  root: HTMLElement;
  price: HTMLElement;
  size: HTMLElement;
  cum: HTMLElement;
  sizeBar: HTMLElement;
  cumBar: HTMLElement;
  shownPrice: number | null;
  shownSize: number | null;
}

export interface LadderElements {
  panel: HTMLElement;
  state: HTMLElement;
  asks: HTMLElement;
  bids: HTMLElement;
  mid: HTMLElement;
  spread: HTMLElement;
}

export class LadderPanel {
  private readonly askRows: LevelRow[];
  private readonly bidRows: LevelRow[];
  private markerUntil = 0;
  private seenResyncs = 0;
  private markerTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly render = () => this.apply();

  constructor(
    private readonly els: LadderElements,
    private readonly feed: BookFeed,
    private readonly decimalsOf: (symbol: string) => number,
  ) {
    this.askRows = Array.from({ length: BOOK_DEPTH }, () => this.levelRow(els.asks));
    this.bidRows = Array.from({ length: BOOK_DEPTH }, () => this.levelRow(els.bids));
  }

  changed(): void {
    invalidate(this.render);
  }

  private levelRow(parent: HTMLElement): LevelRow {
    const price = el('span', { class: 'lv-price' });
    const size = el('span', { class: 'num lv-size' });
    const cum = el('span', { class: 'num lv-cum' });
    const sizeBar = el('i', { class: 'size-bar' });
    const cumBar = el('i', { class: 'cum-bar' });
    const root = el('div', { class: 'lv', hidden: '' }, cumBar, sizeBar, price, size, cum);
    parent.append(root);
    return { root, price, size, cum, sizeBar, cumBar, shownPrice: null, shownSize: null };
  }

  private apply(): void {
    const { feed, els } = this;
    const book = feed.book;
    const d = book ? this.decimalsOf(book.symbol) : 2;
    const ladder = ladderRows(book?.bids ?? [], book?.asks ?? [], BOOK_DEPTH);
    this.fill(this.askRows, ladder.asks, d);
    this.fill(this.bidRows, ladder.bids, d);
    setText(els.mid, ladder.mid === null ? '—' : fmtPrice(ladder.mid, d + 1));
    setText(
      els.spread,
      ladder.spread === null ? '—' : `spr ${fmtPrice(ladder.spread, d)}${ladder.spreadBps === null ? '' : ` · ${ladder.spreadBps.toFixed(1)} bp`}`,
    );

    const now = Date.now();
    if (feed.resyncs > this.seenResyncs) {
      this.seenResyncs = feed.resyncs;
      this.markerUntil = now + MARKER_MS;
      // Clear the marker when it expires even if no book message comes.
      if (this.markerTimer) clearTimeout(this.markerTimer);
      this.markerTimer = setTimeout(() => invalidate(this.render), MARKER_MS + 50);
    }
    if (feed.resyncs < this.seenResyncs) this.seenResyncs = feed.resyncs; // another symbol
    const marked = now < this.markerUntil;
    const p = els.panel;
    p.dataset.book = feed.state;
    p.dataset.symbol = book?.symbol ?? '';
    p.dataset.resyncs = String(feed.resyncs);
    p.dataset.seq = String(book?.seq ?? '');
    p.toggleAttribute('data-resync-marker', marked || feed.state === 'resync');
    const why = feed.lastReason ? ` (${feed.lastReason})` : '';
    const text =
      feed.state === 'resync'
        ? `⟳ resync${why}`
        : feed.state === 'syncing'
          ? 'syncing…'
          : marked
            ? `✓ resynced${why}`
            : `live · crc ok${feed.resyncs ? ` · ${feed.resyncs} resync${feed.resyncs > 1 ? 's' : ''}` : ''}`;
    setText(els.state, text);
    els.state.title = book?.seq != null ? `book seq ${book.seq}, checksum ${book.checksum() >>> 0}` : '';
  }

  private fill(rows: LevelRow[], levels: LadderRow[], d: number): void {
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      const lv = levels[i];
      if (!lv) {
        if (!row.root.hidden) row.root.hidden = true;
        row.shownPrice = row.shownSize = null;
        continue;
      }
      if (row.root.hidden) row.root.hidden = false;
      setText(row.price, fmtPrice(lv.price, d));
      setText(row.size, fmtQty(lv.size));
      setText(row.cum, fmtQty(lv.cum));
      row.sizeBar.style.width = `${(lv.sizeFrac * 100).toFixed(1)}%`;
      row.cumBar.style.width = `${(lv.cumFrac * 100).toFixed(1)}%`;
      // A size that changed at the same price flashes.
      if (row.shownPrice === lv.price && row.shownSize !== null && row.shownSize !== lv.size) {
        row.size.animate([{ color: '#f5a524' }, { color: 'inherit' }], { duration: 400, easing: 'ease-out' });
      }
      row.shownPrice = lv.price;
      row.shownSize = lv.size;
    }
  }
}
