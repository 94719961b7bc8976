/**
 * Follow one symbol's order book through a HubClient, the way docs/protocol.md ("Order book")
 * says: an OrderBook (protocol/book.ts) fed from `book.<SYM>`, resynced from the latest
 * `book.snapshot.<SYM>` (history, limit 1) whenever it says so, when joining, and after a
 * `reset`. With `maxHz` it follows `book.snapshot.<SYM>` instead (unless told otherwise): every
 * message is a whole book, so throttling or conflation can only make it later, never wrong.
 */
import { OrderBook, type BookOutcome } from '../protocol/book.ts';
import { feedTopics } from '../protocol/feeds.ts';
import type { HubClient } from './hub-client.ts';

export interface FollowBookOptions {
  /**
   * Deliver at most this many books per second (latest wins): follows `book.snapshot.<SYM>`.
   * Unset or 0: every increment of `book.<SYM>`.
   */
  maxHz?: number;
  /**
   * Which topic to follow: `increments` (`book.<SYM>`, resyncing on every gap) or `snapshots`
   * (`book.snapshot.<SYM>`). Default: `snapshots` with a `maxHz`, else `increments`.
   */
  source?: 'increments' | 'snapshots';
  /** After every message that changed the book or its state (`outcome` says what happened). */
  onChange?: (book: OrderBook, outcome: BookOutcome) => void;
  /** Wait before asking for a snapshot again when the last one did not resync (default 250 ms). */
  retryMs?: number;
}

export interface BookFollower {
  readonly book: OrderBook;
  /** Snapshots asked for so far (the first one included). */
  readonly snapshotRequests: number;
  stop(): void;
}

/**
 * @example
 * const follower = followBook(hub, 'AAPL', { onChange: (book) => draw(book.bids, book.asks) });
 */
export function followBook(client: HubClient, symbol: string, options: FollowBookOptions = {}): BookFollower {
  const book = new OrderBook(symbol);
  const retryMs = options.retryMs ?? 250;
  const maxHz = options.maxHz && options.maxHz > 0 ? options.maxHz : undefined;
  const wholeBooks = (options.source ?? (maxHz ? 'snapshots' : 'increments')) === 'snapshots';
  let requests = 0;
  let fetching = false;
  let stopped = false;
  let retry: ReturnType<typeof setTimeout> | null = null;

  const notify = (outcome: BookOutcome): void => {
    if (outcome.kind === 'ignored') return;
    try {
      options.onChange?.(book, outcome);
    } catch (err) {
      console.error(`tickhub client: book ${symbol} onChange threw`, err);
    }
  };

  const apply = (data: unknown): void => {
    const outcome = book.apply(data);
    notify(outcome);
    if (!book.synced) resync();
  };

  /** Ask for the latest whole book; again after `retryMs` until the book is synced. */
  const resync = (): void => {
    if (fetching || stopped || wholeBooks) return;
    fetching = true;
    requests++;
    client.history(feedTopics.bookSnapshot(symbol), { limit: 1 }).then(
      (messages) => {
        fetching = false;
        if (stopped) return;
        const latest = messages.at(-1);
        if (latest) notify(book.apply(latest.data));
        if (!book.synced) schedule();
      },
      () => {
        fetching = false;
        schedule(); // not connected: try again (the resume will replay increments meanwhile)
      },
    );
  };

  const schedule = (): void => {
    if (stopped || retry) return;
    retry = setTimeout(() => {
      retry = null;
      if (!book.synced) resync();
    }, retryMs);
  };

  const topic = wholeBooks ? feedTopics.bookSnapshot(symbol) : feedTopics.book(symbol);
  const unsubscribe = client.subscribe(topic, (msg) => apply(msg.data), {
    maxHz,
    snapshot: wholeBooks ? 1 : undefined, // the latest whole book at once
    onReset: () => {
      book.reset();
      resync();
    },
  });
  resync(); // joining: the increments wait for a snapshot

  return {
    book,
    get snapshotRequests() {
      return requests;
    },
    stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      unsubscribe();
    },
  };
}
