/**
 * Runs the simulator against a hub through the shared HubClient. The model never waits for the
 * network: while the hub is away, messages are counted and dropped (one log line per outage),
 * and publishing resumes by itself once HubClient has reconnected.
 */
import WebSocket from 'ws';
import { HubClient, type ClientStatus, type WebSocketFactory, type WebSocketLike } from '../server/protocol/client.ts';
import { HubError } from '../server/protocol/wire.ts';
import { DEFAULT_HUB_URL, DEFAULT_RATE, DEFAULT_SEED } from './args.ts';
import { createSimulator, type FeedPayload, type Simulator } from './simulator.ts';
import type { StrategyParams } from './strategy.ts';

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface RunSimulatorOptions {
  /** App-mode endpoint. Default: env HUB_URL, else ws://127.0.0.1:5000/ws. */
  hubUrl?: string;
  /** Publish key. Default: env HUB_PUBLISH_KEY. */
  key?: string;
  /** Default 1. */
  seed?: number;
  /** Ticks per second per symbol. Default 5. */
  rate?: number;
  /** Default: AAPL, MSFT, NVDA, BTC-USD, ETH-USD, EURUSD. */
  symbols?: readonly string[];
  /** Market time per wall time. Default 1. */
  speed?: number;
  /** Strategy tuning (window, entryZ, cooldownTicks, maxOrders). */
  strategy?: Partial<StrategyParams>;
  /** Default: console, prefixed `[simulator]`. A pino logger fits. */
  logger?: Logger;
  /** WebSocket factory. Default: the `ws` package. */
  connect?: WebSocketFactory;
  /** HubClient reconnect backoff; the ceiling defaults to 3 s so a restarted hub gets data soon. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Publishes awaiting the hub's reply beyond which new ones are dropped (slow hub). Default 1000. */
  maxInFlight?: number;
}

export interface PublishStats {
  /** Handed to the hub. */
  sent: number;
  /** Confirmed by the hub. */
  acked: number;
  /** Not delivered because the hub was unreachable or too slow to confirm (outages). */
  dropped: number;
  /** Refused by the hub (forbidden, rate_limited, ...), by error code. */
  refused: Record<string, number>;
}

export interface RunningSimulator {
  readonly simulator: Simulator;
  stats(): PublishStats;
  /** Stop ticking, wait up to 2 s for outstanding publishes, close the connection. Idempotent. */
  stop(): Promise<void>;
}

const consoleLogger: Logger = {
  info: (msg) => console.log(`[simulator] ${msg}`),
  warn: (msg) => console.warn(`[simulator] ${msg}`),
  error: (msg) => console.error(`[simulator] ${msg}`),
};

const wsConnect: WebSocketFactory = (url, protocol) => new WebSocket(url, protocol) as unknown as WebSocketLike;

/** How long `stop()` waits for replies to publishes already sent. */
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
  const where = redact(hubUrl);

  const stats: PublishStats = { sent: 0, acked: 0, dropped: 0, refused: {} };
  const inFlight = new Set<Promise<void>>();
  /** Current outage: set while the hub is unreachable, with what it has cost so far. */
  let outage: { since: number; dropped: number; cause: string } | null = null;
  /** Why the last connection attempt failed, as far as the socket says (e.g. a 401 for a bad key). */
  let lastError = '';
  let everConnected = false;
  let stopping = false;
  let slowLogged = false;
  /** Refusal codes already logged since the last (re)connect: one line each, not one per message. */
  const refusalsLogged = new Set<string>();

  const drop = (): void => {
    stats.dropped++;
    if (outage) outage.dropped++;
  };

  const onStatus = (status: ClientStatus): void => {
    if (stopping) return;
    if (status === 'open') {
      if (outage) {
        const secs = ((Date.now() - outage.since) / 1000).toFixed(1);
        log.info(`reconnected to hub at ${where} after ${secs}s; dropped ${outage.dropped} messages meanwhile`);
      } else {
        log.info(`connected to hub at ${where}`);
      }
      outage = null;
      lastError = '';
      everConnected = true;
      slowLogged = false;
      refusalsLogged.clear();
    } else if (status === 'closed') {
      const cause = explain(lastError);
      if (!outage) {
        outage = { since: Date.now(), dropped: 0, cause };
        log.warn(
          everConnected
            ? `disconnected from hub at ${where}${cause}; reconnecting with backoff, dropping messages until it is back`
            : `hub at ${where} is not reachable${cause}; retrying with backoff, dropping messages until it is up`,
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


  const onRefused = (err: unknown): void => {
    const code = err instanceof HubError ? err.code : 'internal';
    if (code === 'unavailable') return drop(); // connection lost with the reply outstanding
    stats.refused[code] = (stats.refused[code] ?? 0) + 1;
    if (refusalsLogged.has(code)) return;
    refusalsLogged.add(code);
    const hint = code === 'forbidden' || code === 'unauthorized' ? ' (check HUB_PUBLISH_KEY / --key matches the hub)' : '';
    log.error(`hub refused a publish: ${code}: ${(err as Error).message}${hint}; further ${code} refusals are counted, not logged`);
  };

  const publish = (topic: string, data: FeedPayload): void => {
    if (client.status !== 'open') return drop();
    if (inFlight.size >= maxInFlight) {
      if (!slowLogged) log.warn(`hub is slow: ${inFlight.size} publishes unconfirmed; dropping until it catches up`);
      slowLogged = true;
      return drop();
    }
    stats.sent++;
    const p: Promise<void> = client.publish(topic, data).then(
      () => {
        stats.acked++;
      },
      onRefused,
    );
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
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
    minBackoffMs: opts.minBackoffMs,
    maxBackoffMs: opts.maxBackoffMs ?? 3000,
    onStatus,
  });
  const perSecond = Math.round(simulator.symbols.length * (opts.rate ?? DEFAULT_RATE) * 2 + 1);
  log.info(
    `simulating ${simulator.symbols.join(',')} at ${opts.rate ?? DEFAULT_RATE} ticks/s per symbol, seed ${opts.seed ?? DEFAULT_SEED}` +
      ` (~${perSecond} messages/s plus fills) -> ${where}${key ? '' : ' (no publish key set)'}`,
  );
  simulator.start();

  let stopped: Promise<void> | null = null;
  return {
    simulator,
    stats: () => ({ ...stats, refused: { ...stats.refused } }),
    stop() {
      stopped ??= (async () => {
        stopping = true;
        simulator.stop();
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.allSettled([...inFlight]),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_TIMEOUT_MS))),
        ]);
        clearTimeout(timer);
        client.close();
        const refused = Object.values(stats.refused).reduce((a, b) => a + b, 0);
        log.info(`stopped: ${stats.acked} messages confirmed, ${stats.dropped} dropped, ${refused} refused`);
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
