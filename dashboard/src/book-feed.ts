/**
 * The selected symbol's order book, kept from `book.<SYM>` increments with the shared
 * `OrderBook` (protocol/book.ts): every update is checked against the publisher's checksum, and
 * when one fails (or a seq is missing, or the feed started over) the book is dropped and fetched
 * again from the latest `book.snapshot.<SYM>`, with the updates that arrive meanwhile buffered and
 * replayed on top. The ladder therefore shows the publisher's exact book or says it is resyncing.
 */
import type { HubClient } from '../../client/hub-client.ts';
import { OrderBook, type ResyncReason } from '../../protocol/book.ts';
import { feedTopics } from '../../protocol/feeds.ts';
import type { HubMessage } from '../../protocol/wire.ts';

/** `syncing`: waiting for the first snapshot; `live`: checksum-verified; `resync`: dropped, refetching. */
export type BookState = 'syncing' | 'live' | 'resync';

/** Wait before fetching a snapshot again after one did not restore the book. */
const RETRY_MS = 300;

export class BookFeed {
  book: OrderBook | null = null;
  state: BookState = 'syncing';
  /** Resyncs of the followed symbol's book, and the last reason. */
  resyncs = 0;
  lastReason: ResyncReason | null = null;
  private stop: (() => void) | null = null;
  private fetching = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly hub: HubClient,
    /** The book or its state changed: redraw (once per frame). */
    private readonly onChange: () => void,
    /** Every hub message received (for the page's counters). */
    private readonly onAny: (msg: HubMessage) => void = () => {},
  ) {}

  get symbol(): string | null {
    return this.book?.symbol ?? null;
  }

  follow(symbol: string): void {
    if (symbol === this.symbol) return;
    this.stop?.();
    const book = new OrderBook(symbol);
    this.book = book;
    this.state = 'syncing';
    this.resyncs = 0;
    this.lastReason = null;
    this.stop = this.hub.subscribe(
      feedTopics.book(symbol),
      (msg) => {
        this.onAny(msg);
        if (this.book === book) this.onData(book, msg.data);
      },
      {
        // The hub could not resume the stream: what we hold may have missed updates.
        onReset: () => {
          if (this.book !== book) return;
          book.reset();
          this.dropped(book, 'gap');
        },
      },
    );
    this.fetchSnapshot(book);
    this.onChange();
  }

  private onData(book: OrderBook, data: unknown): void {
    const outcome = book.apply(data);
    if (outcome.kind === 'applied') {
      this.state = 'live';
      this.onChange();
    } else if (outcome.kind === 'resync') {
      this.dropped(book, outcome.why);
    }
  }

  private dropped(book: OrderBook, why: ResyncReason): void {
    this.state = 'resync';
    this.resyncs++;
    this.lastReason = why;
    this.onChange();
    this.fetchSnapshot(book);
  }

  /** The latest whole book: the last message of `book.snapshot.<SYM>`. */
  private fetchSnapshot(book: OrderBook): void {
    if (this.fetching) return;
    this.fetching = true;
    const topic = feedTopics.bookSnapshot(book.symbol);
    this.latest(topic)
      .then((msg) => {
        if (this.book !== book || book.synced) return;
        if (msg && book.apply(msg.data).kind === 'applied') {
          this.state = 'live';
          this.onChange();
        } else this.retry(book);
      })
      .catch(() => this.retry(book)) // disconnected: the resumed subscription or the retry brings it back
      .finally(() => {
        this.fetching = false;
      });
  }

  private retry(book: OrderBook): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.book === book && !book.synced) this.fetchSnapshot(book);
    }, RETRY_MS);
  }

  private async latest(topic: string): Promise<HubMessage | null> {
    const head = await this.hub.request({ op: 'history', topic, limit: 1 });
    const lastSeq = head.lastSeq as number | undefined;
    if (!lastSeq) return null;
    const page = await this.hub.history(topic, { since: lastSeq - 1, limit: 1 });
    return page.at(-1) ?? null;
  }
}
