/**
 * Runs the simulator against a hub through the shared HubClient. The model never waits for the
 * network; what happens to a message the hub cannot take right now depends on its feed:
 *
 * - Ticks and book messages are dropped (and counted) while the hub is unreachable or too slow:
 *   a stale tick is worthless and the bar covering it is kept; a book reader sees the gap in the
 *   book's seq and resyncs from the next snapshot.
 * - Bars, trades, fills and pnl go into a bounded outage backlog (simulator/backlog.ts) when they cannot be
 *   sent, or were sent and the connection dropped before the hub replied: the latest version of
 *   each bar (per topic and time), every trade and fill once (by id), the latest pnl. Past `backlogLimit`
 *   the oldest are dropped and counted.
 * - Once HubClient has reconnected, the backlog is replayed first (bars oldest first, fills by id,
 *   then pnl), within `maxInFlight`. Until it is empty, new bars, fills and pnl queue behind it, so
 *   each bar topic gets non-decreasing bar times and a hub restart leaves no missing second.
 *   Delivery is at-least-once: a message the old hub stored but never confirmed is sent again.
 * - A publish the hub refuses for any other reason (forbidden, bad_request, ...) is counted as
 *   refused and not retried.
 *
 * - Warm start (`warm`; the CLI and `npm start` turn it on): on the first connection, before ticking, the
 *   simulator publishes its seeded history (simulator/warm-up.ts) through the same publish path,
 *   in order, within `maxInFlight` (the hub's replies pace it), then catches up the seconds that
 *   took and goes live. Live messages produced meanwhile queue behind the history. If the
 *   connection drops during it, what is left goes the usual way (ticks dropped, bars backlogged).
 *
 * Logs: one line per outage, one on reconnect, one when the backlog has been replayed, one when
 * the warm start is done.
 */
import WebSocket from 'ws';
import { HubClient, type ClientStatus, type WebSocketFactory, type WebSocketLike } from '../client/hub-client.ts';
import { HubError } from '../protocol/errors.ts';
import { DEFAULT_HUB_URL, DEFAULT_RATE, DEFAULT_SEED } from './args.ts';
import { OutageBacklog, backlogKind } from './backlog.ts';
import { createSimulator, type FeedPayload } from './simulator.ts';
import type { WarmOptions } from './warm.ts';
import type { Logger, PublishStats, RunSimulatorOptions, RunningSimulator } from './run-options.ts';

export type { Logger, PublishStats, RunSimulatorOptions, RunningSimulator } from './run-options.ts';

const consoleLogger: Logger = {
  info: (msg) => console.log(`[simulator] ${msg}`),
  warn: (msg) => console.warn(`[simulator] ${msg}`),
  error: (msg) => console.error(`[simulator] ${msg}`),
};

const wsConnect: WebSocketFactory = (url, protocol) => new WebSocket(url, protocol) as unknown as WebSocketLike;

/** How long `stop()` waits for replies to publishes already sent and for the backlog to go out. */
const DRAIN_TIMEOUT_MS = 2000;

/**
 * Start the simulator and publish its feeds to the hub. Returns at once; connecting, reconnecting
 * and publishing happen in the background until `stop()`.
 */
export function runSimulator(opts: RunSimulatorOptions = {}): RunningSimulator {
  const log = opts.logger ?? consoleLogger;
  const hubUrl = opts.hubUrl ?? (process.env.HUB_URL || DEFAULT_HUB_URL);
  const key = opts.key ?? (process.env.HUB_PUBLISH_KEY || undefined);
  const maxInFlight = opts.maxInFlight ?? 1000;
  if (!(Number.isInteger(maxInFlight) && maxInFlight > 0)) throw new RangeError(`maxInFlight must be an integer > 0, got ${maxInFlight}`);
  const backlog = new OutageBacklog(opts.backlogLimit);
  const where = redact(hubUrl);

  const stats = { sent: 0, acked: 0, dropped: 0, refused: {} as Record<string, number>, replayed: 0 };
  const inFlight = new Set<Promise<void>>();
  /** Production order of messages: decides which version of a bar or pnl is the latest. */
  let produced = 0;
  /** Current outage: set while the hub is unreachable, with what it has cost so far. */
  let outage: { since: number; dropped: number; cause: string } | null = null;
  /** Current replay: set from a (re)connect with a non-empty backlog until the backlog is empty. */
  let replay: { since: number; bar: number; trade: number; fill: number; pnl: number } | null = null;
  /** Why the last connection attempt failed, as far as the socket says (e.g. a 401 for a bad key). */
  let lastError = '';
  let everConnected = false;
  let stopping = false;
  let slowLogged = false;
  /** Refusal codes already logged since the last (re)connect: one line each, not one per message. */
  const refusalsLogged = new Set<string>();

  /** The warm start's queue (history, then live messages produced meanwhile); null once done. */
  const warmOptions: WarmOptions | null = !opts.warm ? null : opts.warm === true ? {} : opts.warm;
  let warmQueue: { topic: string; data: FeedPayload; order: number }[] | null = null;
  let warmNext = 0;
  let warmStarted: { at: number; history: number } | null = null;

  const drop = (n = 1): void => {
    stats.dropped += n;
    if (outage) outage.dropped += n;
  };

  /** Put a message in the backlog; false if its topic is not backlogged. */
  const keep = (topic: string, data: FeedPayload, order: number): boolean => {
    const evicted = backlog.stats().evicted;
    if (!backlog.add(topic, data, order)) return false;
    drop(backlog.stats().evicted - evicted);
    return true;
  };

  const onStatus = (status: ClientStatus): void => {
    if (stopping) return;
    if (status === 'open') {
      if (outage) {
        const secs = ((Date.now() - outage.since) / 1000).toFixed(1);
        log.info(
          `reconnected to hub at ${where} after ${secs}s; dropped ${outage.dropped} messages meanwhile` +
            (backlog.size ? `, replaying ${backlog.size} backlogged` : ''),
        );
      } else {
        log.info(`connected to hub at ${where}`);
      }
      outage = null;
      lastError = '';
      everConnected = true;
      slowLogged = false;
      refusalsLogged.clear();
      if (backlog.size) replay ??= { since: Date.now(), bar: 0, trade: 0, fill: 0, pnl: 0 };
      if (warmOptions && !warmStarted) return warmStart(warmOptions);
      pump();
    } else if (status === 'closed') {
      if (warmQueue) endWarm(false);
      const cause = explain(lastError);
      if (!outage) {
        outage = { since: Date.now(), dropped: 0, cause };
        log.warn(
          everConnected
            ? `disconnected from hub at ${where}${cause}; reconnecting with backoff, dropping ticks and keeping bars, fills and pnl until it is back`
            : `hub at ${where} is not reachable${cause}; retrying with backoff, dropping ticks and keeping bars, fills and pnl until it is up`,
        );
      } else if (cause !== outage.cause) {
        // Same outage, new reason (e.g. the hub came back but refuses the key): worth one more
        // line, unless all we knew before was "the connection dropped".
        if (outage.cause !== '') log.warn(`hub at ${where} still unavailable${cause}`);
        outage.cause = cause;
      }
    }
  };

  const baseConnect = opts.connect ?? wsConnect;
  const connect: WebSocketFactory = (url, protocol) => {
    const socket = baseConnect(url, protocol);
    // HubClient owns `onerror`; a second listener (ws and browsers both have addEventListener) learns why.
    const target = socket as unknown as { addEventListener?: (type: string, fn: (ev: unknown) => void) => void };
    target.addEventListener?.('error', (ev) => {
      const e = ev as { message?: unknown; error?: { message?: unknown } };
      lastError = String(e.message ?? e.error?.message ?? 'connection error');
    });
    return socket;
  };


  const onRefused = (err: unknown, topic: string, data: FeedPayload, order: number): void => {
    const code = err instanceof HubError ? err.code : 'internal';
    if (code === 'unavailable') {
      // Connection lost with the reply outstanding: the hub may never have stored it. No pump here:
      // the socket may still be closing, and a retry now would fail again in a microtask loop.
      if (!keep(topic, data, order)) drop();
      return;
    }
    stats.refused[code] = (stats.refused[code] ?? 0) + 1;
    if (refusalsLogged.has(code)) return;
    refusalsLogged.add(code);
    const hint = code === 'forbidden' || code === 'unauthorized' ? ' (check HUB_PUBLISH_KEY / --key matches the hub)' : '';
    log.error(`hub refused a publish: ${code}: ${(err as Error).message}${hint}; further ${code} refusals are counted, not logged`);
  };

  const send = (topic: string, data: FeedPayload, order: number): void => {
    stats.sent++;
    const p: Promise<void> = client.publish(topic, data).then(
      () => {
        stats.acked++;
        inFlight.delete(p);
        if (warmQueue || backlog.size) pump(); // room for more of the history or the backlog
      },
      (err: unknown) => {
        inFlight.delete(p);
        onRefused(err, topic, data, order);
      },
    );
    inFlight.add(p);
  };

  /** Send backlog entries, oldest first, while connected and within maxInFlight. */
  const pump = (): void => {
    if (warmQueue) return pumpWarm();
    if (client.status !== 'open') return;
    while (backlog.size && inFlight.size < maxInFlight) {
      for (const e of backlog.take(maxInFlight - inFlight.size)) {
        stats.replayed++;
        if (replay) replay[backlogKind(e.topic)!]++;
        send(e.topic, e.data, e.order);
      }
    }
    if (replay && !backlog.size) {
      const secs = ((Date.now() - replay.since) / 1000).toFixed(1);
      const { bar, trade, fill, pnl } = replay;
      log.info(`replayed ${bar + trade + fill + pnl} backlogged messages (${bar} bars, ${fill} fills, ${pnl} pnl, ${trade} trades) in ${secs}s`);
      replay = null;
    }
  };

  /** Publish the history, then catch up and go live; everything queues until the history is out. */
  const warmStart = (options: WarmOptions): void => {
    warmStarted = { at: Date.now(), history: 0 };
    warmQueue = [];
    warmNext = 0;
    const summary = simulator.warmUp(Date.now(), options);
    warmStarted.history = summary.messages;
    simulator.catchUp(Date.now());
    simulator.start();
    pumpWarm();
  };

  const pumpWarm = (): void => {
    if (!warmQueue) return;
    while (warmNext < warmQueue.length && inFlight.size < maxInFlight && client.status === 'open') {
      const e = warmQueue[warmNext++];
      send(e.topic, e.data, e.order);
    }
    if (warmNext === warmQueue.length) endWarm(true);
  };

  /** Leave the warm start: done, or cut short by a disconnect (the rest goes the usual way). */
  const endWarm = (done: boolean): void => {
    const rest = warmQueue!.slice(warmNext);
    warmQueue = null;
    const { at, history } = warmStarted!;
    const secs = ((Date.now() - at) / 1000).toFixed(1);
    if (done) log.info(`warm start: published ${history} messages of seeded history in ${secs}s`);
    else log.warn(`warm start cut short after ${secs}s by a disconnect; ${rest.length} messages left go the usual way`);
    for (const e of rest) route(e.topic, e.data, e.order);
  };

  const publish = (topic: string, data: FeedPayload): void => {
    const order = ++produced;
    if (warmQueue) {
      warmQueue.push({ topic, data, order });
      return;
    }
    route(topic, data, order);
  };

  /** Send now, keep in the backlog, or drop, by feed and connection state. */
  const route = (topic: string, data: FeedPayload, order: number): void => {
    const open = client.status === 'open';
    const kept = backlogKind(topic) !== null;
    // Behind a non-empty backlog, bars, fills and pnl wait their turn (bar times stay in order).
    if (kept && (!open || backlog.size > 0 || inFlight.size >= maxInFlight)) {
      keep(topic, data, order);
      return pump();
    }
    if (!open) return drop();
    if (inFlight.size >= maxInFlight) {
      if (!slowLogged) log.warn(`hub is slow: ${inFlight.size} publishes unconfirmed; dropping ticks and holding back bars, fills and pnl until it catches up`);
      slowLogged = true;
      return drop();
    }
    send(topic, data, order);
  };

  const simulator = createSimulator({
    seed: opts.seed ?? DEFAULT_SEED,
    ticksPerSecond: opts.rate ?? DEFAULT_RATE,
    symbols: opts.symbols,
    speed: opts.speed,
    strategy: opts.strategy,
    publish,
  });
  // Connect only once the options are known to be valid, so a bad symbol leaks no socket.
  const client = new HubClient({
    url: hubUrl,
    token: key,
    connect,
    // A producer at this rate needs the WebSocket; HTTP publishing would not carry it.
    fallback: false,
    minBackoffMs: opts.minBackoffMs,
    maxBackoffMs: opts.maxBackoffMs ?? 3000,
    onStatus,
  });
  // Per tick and symbol: tick, trade, 1s bar, book, book snapshot; the longer bars add ~1.3/s a symbol.
  const perSecond = Math.round(simulator.symbols.length * ((opts.rate ?? DEFAULT_RATE) * 5 + 1.3) + 1);
  log.info(
    `simulating ${simulator.symbols.join(',')} at ${opts.rate ?? DEFAULT_RATE} ticks/s per symbol, seed ${opts.seed ?? DEFAULT_SEED}` +
      ` (~${perSecond} messages/s plus fills) -> ${where}${key ? '' : ' (no publish key set)'}` +
      (warmOptions ? '; warm start on connect' : ''),
  );
  // A warm start runs the model over the past first, so ticking waits for the first connection.
  if (!warmOptions) simulator.start();

  let stopped: Promise<void> | null = null;
  return {
    simulator,
    stats: () => {
      const b = backlog.stats();
      return {
        sent: stats.sent,
        acked: stats.acked,
        dropped: stats.dropped,
        refused: { ...stats.refused },
        backlogged: b.added,
        replayed: stats.replayed,
        superseded: b.superseded,
        evicted: b.evicted,
        backlog: backlog.size,
      };
    },
    stop() {
      stopped ??= (async () => {
        stopping = true;
        simulator.stop();
        // Wait for replies, sending what is left of the backlog as room frees up (acks pump it).
        const deadline = Date.now() + DRAIN_TIMEOUT_MS;
        let timer: ReturnType<typeof setTimeout> | undefined;
        while (Date.now() < deadline) {
          pump();
          if (inFlight.size === 0) break; // all confirmed, and the backlog is empty or cannot go out
          await Promise.race([
            Promise.allSettled([...inFlight]),
            new Promise<void>((resolve) => (timer = setTimeout(resolve, deadline - Date.now()))),
          ]);
          clearTimeout(timer);
        }
        client.close();
        const refused = Object.values(stats.refused).reduce((a, b) => a + b, 0);
        const left = backlog.size ? `, ${backlog.size} backlogged never sent` : '';
        log.info(`stopped: ${stats.acked} messages confirmed, ${stats.dropped} dropped, ${refused} refused${left}`);
      })();
      return stopped;
    },
  };
}

/** A parenthesised reason for a log line, with a hint when the hub turned the key down. */
function explain(error: string): string {
  if (!error) return '';
  const hint = /\b(401|403)\b/.test(error) ? ' - the hub refused the publish key; check HUB_PUBLISH_KEY / --key' : '';
  return ` (${error}${hint})`;
}

/** The URL without query string or credentials, for logs. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url;
  }
}
