/** What `runSimulator` takes and what it hands back: its options, its logger and its stats. */
import type { WebSocketFactory } from '../client/hub-client.ts';
import type { BacklogLimit } from './backlog.ts';
import type { Simulator } from './simulator.ts';
import type { WarmOptions } from './warm.ts';
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
  /**
   * Warm start: publish a seeded history on the first connection (default off here; the CLI and
   * `npm start` turn it on). Pass the hub's HISTORY rules as `{ retention }` to publish no more
   * than it keeps.
   */
  warm?: boolean | WarmOptions;
  /** Strategy tuning (window, entryZ, cooldownTicks, maxOrders). */
  strategy?: Partial<StrategyParams>;
  /** Default: console, prefixed `[simulator]`. A pino logger fits. */
  logger?: Logger;
  /** WebSocket factory. Default: the `ws` package. */
  connect?: WebSocketFactory;
  /** HubClient reconnect backoff; the ceiling defaults to 3 s so a restarted hub gets data soon. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Publishes awaiting the hub's reply beyond which no more are sent (slow hub): ticks are dropped,
   * bars, fills and pnl wait in the backlog. Default 1000.
   */
  maxInFlight?: number;
  /** Bound of the outage backlog: bars and trades over all symbols, and fills. Default 3600 bars, 20000 trades, 10000 fills. */
  backlogLimit?: Partial<BacklogLimit>;
}

export interface PublishStats {
  /** Handed to the hub. */
  sent: number;
  /** Confirmed by the hub. */
  acked: number;
  /**
   * Never delivered: ticks while the hub was unreachable or too slow, plus backlog entries dropped
   * because the backlog was full (`evicted`).
   */
  dropped: number;
  /** Refused by the hub (forbidden, rate_limited, ...), by error code. Not retried. */
  refused: Record<string, number>;
  /** Bars, fills and pnl put into the outage backlog (a message failing again counts again). */
  backlogged: number;
  /** Backlog entries sent to the hub (a replay that fails again is backlogged and replayed again). */
  replayed: number;
  /** Backlogged messages made redundant by a newer version (bars, pnl) or a copy (fills). */
  superseded: number;
  /** Backlog entries dropped, oldest first, at `backlogLimit`; also counted in `dropped`. */
  evicted: number;
  /** Entries waiting in the backlog now. */
  backlog: number;
}

export interface RunningSimulator {
  readonly simulator: Simulator;
  stats(): PublishStats;
  /**
   * Stop ticking; if connected, wait up to 2 s for outstanding publishes and the rest of the
   * backlog; close the connection. Idempotent.
   */
  stop(): Promise<void>;
}
