import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { followBook, type BookFollower } from '../../client/book-follower.ts';
import { HubClient, type WebSocketLike } from '../../client/hub-client.ts';
import { testConfig } from '../../server/config.ts';
import { startHub, type RunningHub } from '../../server/server.ts';
import { runSimulator, type RunningSimulator } from '../../simulator/run.ts';
import { sleep, until } from '../support/until.ts';

const KEY = 'book-follower-key';
const SYMBOL = 'ETH-USD'; // the busiest book: ~20 ticks of move per step
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

describe('followBook with the real hub and simulator', () => {
  let hub: RunningHub | null = null;
  let running: RunningSimulator | null = null;
  const clients: HubClient[] = [];

  afterEach(async () => {
    await running?.stop();
    running = null;
    for (const c of clients.splice(0)) c.close();
    await hub?.close();
    hub = null;
  });

  function client(sockets?: WebSocket[]): HubClient {
    const c = new HubClient({
      url: hub!.wsUrl,
      minBackoffMs: 20,
      maxBackoffMs: 100,
      connect: (url, protocol) => {
        const ws = new WebSocket(url, protocol);
        sockets?.push(ws);
        return ws as unknown as WebSocketLike;
      },
    });
    clients.push(c);
    return c;
  }

  it('a late joiner, a reconnecting reader and maxHz=2 readers each end with the exact book', async () => {
    hub = await startHub(testConfig({ publishKey: KEY }));
    running = runSimulator({ hubUrl: hub.wsUrl, key: KEY, rate: 20, symbols: [SYMBOL], logger: quiet });

    // From the start, then its connection is cut: it resumes and gets the increments it missed.
    const sockets: WebSocket[] = [];
    const reconnecting = followBook(client(sockets), SYMBOL);
    await until('the first reader in sync', () => reconnecting.book.synced && reconnecting.book.seq! > 5);
    sockets[0].terminate();
    await sleep(400); // ~8 increments while it is away or resuming

    // Throttled: whole books at 2/s, and increments at 2/s (a gap every time, each resynced).
    const wholeBooks = followBook(client(), SYMBOL, { maxHz: 2 });
    const throttledIncrements = followBook(client(), SYMBOL, { maxHz: 2, source: 'increments' });
    await sleep(800);
    // Late: the book has been going for a while.
    const late = followBook(client(), SYMBOL);
    await sleep(1200);

    await running.stop(); // every publish confirmed: the hub has the final book
    const final = running.simulator.book(SYMBOL)!;
    expect(final.seq).toBeGreaterThan(15); // dozens of increments (fewer on a loaded machine)
    const readers: Record<string, BookFollower> = { reconnecting, late, wholeBooks, throttledIncrements };
    for (const [name, f] of Object.entries(readers)) {
      await until(`${name} at the final book`, () => f.book.synced && f.book.seq === final.seq, 5000);
      expect(f.book.checksum(), name).toBe(final.checksum);
      expect(f.book.bids, name).toEqual(final.bids);
      expect(f.book.asks, name).toEqual(final.asks);
    }
    expect(sockets.length).toBeGreaterThanOrEqual(2); // it did reconnect
    expect(reconnecting.book.stats().resyncs).toBe(0); // the resume replayed every increment: no gap
    expect(reconnecting.book.stats().updates).toBeGreaterThan(30);
    expect(throttledIncrements.book.stats().resyncs).toBeGreaterThan(0); // gaps seen, never applied
    expect(wholeBooks.book.stats()).toMatchObject({ resyncs: 0, updates: 0 });
    for (const f of Object.values(readers)) f.stop();
  });
});
