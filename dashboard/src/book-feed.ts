/**
 * The selected symbol's order book for the ladder, through the client's `followBook`
 * (client/book-follower.ts: `book.<SYM>` increments into the shared `OrderBook` of
 * protocol/book.ts, each checked against the publisher's checksum, resynced from the latest
 * `book.snapshot.<SYM>` on a failed checksum, a missing seq or a feed that started over). This
 * adds what the panel shows about it: the state, and how often and why it resynced.
 */
import { followBook, type BookFollower } from '../../client/book-follower.ts';
import type { BookOutcome, OrderBook, ResyncReason } from '../../protocol/book.ts';

/** `syncing`: waiting for the first snapshot; `live`: checksum-verified; `resync`: dropped, refetching. */
export type BookState = 'syncing' | 'live' | 'resync';

export class BookFeed {
  state: BookState = 'syncing';
  /** Resyncs of the followed symbol's book, and the last reason. */
  resyncs = 0;
  lastReason: ResyncReason | null = null;
  private follower: BookFollower | null = null;

  constructor(
    private readonly hub: Parameters<typeof followBook>[0],
    /** The book or its state changed: redraw (once per frame). */
    private readonly onChange: () => void,
  ) {}

  get book(): OrderBook | null {
    return this.follower?.book ?? null;
  }

  get symbol(): string | null {
    return this.book?.symbol ?? null;
  }

  follow(symbol: string): void {
    if (symbol === this.symbol) return;
    this.follower?.stop();
    this.state = 'syncing';
    this.resyncs = 0;
    this.lastReason = null;
    const current = { follower: null as BookFollower | null };
    current.follower = followBook(this.hub, symbol, {
      onChange: (_book, outcome) => {
        if (this.follower === current.follower) this.changed(outcome);
      },
    });
    this.follower = current.follower;
    this.onChange();
  }

  private changed(outcome: BookOutcome): void {
    if (outcome.kind === 'applied') this.state = 'live';
    else if (outcome.kind === 'resync') {
      this.state = 'resync';
      this.resyncs++;
      this.lastReason = outcome.why;
    }
    this.onChange();
  }
}
