/**
 * The Redis plumbing of the broker: its two connections (commands, and pub/sub, which Redis
 * gives nothing else once subscribed), key naming, the script runner and the error mapping.
 * Knows nothing of seqs, epochs or topics; the broker and presence run on it.
 */
import { createClient, ErrorReply } from 'redis';
import type { Logger } from 'pino';
import { guarded } from '../../guard.ts';
import { BrokerUnavailableError } from '../broker.ts';
import type { ScriptRunner } from './presence.ts';
import type { Script } from './scripts.ts';

export type Client = ReturnType<typeof createClient>;
export type Reply = string | number | null | Reply[];

export interface RedisClientOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://...`. */
  url: string;
  /** Prepended to every key and channel name (see scripts.ts for the layout). */
  prefix: string;
  /** This node's id in presence, origins and its own keys. */
  nodeId: string;
  /**
   * A command with no reply after this long fails with BrokerUnavailableError, and the command
   * connection counts as stalled (not ready, nothing more is sent) until that reply or the
   * disconnect comes. Bounds what a partition (packets lost, no RST) costs a publisher. 2000 ms.
   * Time the hub's own event loop is busy (the watchdog's ticks come late) does not count: a
   * reply may be waiting unread, and failing it would turn a busy hub into a failing one.
   */
  commandTimeoutMs?: number;
  /**
   * A connection that neither sends nor receives for this long is dropped and reconnected. The
   * broker's heartbeat answers on the command connection and publishes to the pub/sub one every
   * second, so this only fires when Redis is unreachable; the broker passes max(3000, 3 x heartbeat).
   * None by default (a client without that traffic would be dropped while merely idle).
   */
  idleTimeoutMs?: number;
  log?: Logger;
}

/** What the pub/sub connection reports, so the broker can hold live delivery and close the gap. */
export interface PubSubEvents {
  /** The connection reported an error; `connected` when it is still up (no reconnect will follow). */
  error(connected: boolean): void;
  /** The connection is back after a disconnect: messages published meanwhile were missed. */
  reconnected(): void;
}

/**
 * @example
 * const redis = new RedisClient({ url, prefix: 'th:', nodeId }, { error: () => {}, reconnected: () => {} });
 * await redis.connect(10_000);
 * const epoch = await redis.script(EPOCH, [redis.key('epoch'), redis.key('pos:')], [candidate, 'ensure', '']);
 */
export class RedisClient implements ScriptRunner {
  readonly prefix: string;
  readonly nodeId: string;
  /** Commands and scripts; no offline queue, so a command while disconnected fails at once. */
  readonly cmd: Client;
  /** Pub/sub only. */
  readonly sub: Client;
  private closedFlag = false;
  /** Commands past `commandTimeoutMs` still waiting for their reply (or the disconnect). */
  private overdue = 0;
  private readonly commandTimeoutMs: number;
  /** Commands waiting for their reply, oldest first; one watchdog timer for all of them, from the first command to destroy(). */
  private readonly waiting = new Set<Waiting>();
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private readonly watchdogMs: number;
  /** When the watchdog last ran, and how late its ticks have been in all: time the hub's own event loop was busy. */
  private lastTick = 0;
  private hubBusyMs = 0;

  constructor(
    private readonly options: RedisClientOptions,
    events: PubSubEvents,
  ) {
    this.prefix = options.prefix;
    this.nodeId = options.nodeId;
    const log = options.log;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 2000;
    this.watchdogMs = Math.max(20, this.commandTimeoutMs / 10);
    // Always retry, also after a socket timeout (node-redis gives up on those by default).
    const reconnectStrategy = (retries: number) => Math.min(50 * 2 ** retries, 1000);
    const socketTimeout = options.idleTimeoutMs;
    this.cmd = createClient({ url: options.url, disableOfflineQueue: true, socket: { reconnectStrategy, connectTimeout: 2000, socketTimeout } });
    this.sub = this.cmd.duplicate();
    let cmdWasReady = false;
    this.cmd.on('error', (err: Error) => log?.warn({ err: err.message }, 'redis (commands) error'));
    this.cmd.on('ready', () => {
      if (cmdWasReady) log?.info('redis (commands) reconnected');
      cmdWasReady = true;
    });
    let subWasReady = false;
    this.sub.on('error', (err: Error) => {
      log?.warn({ err: err.message }, 'redis (pub/sub) error');
      events.error(this.sub.isReady);
    });
    this.sub.on('ready', () => {
      if (!subWasReady) {
        subWasReady = true;
        return;
      }
      log?.info('redis (pub/sub) reconnected; closing the gap from the streams');
      events.reconnected();
    });
  }

  /** Connect both connections, or reject with BrokerUnavailableError after `timeoutMs`. */
  async connect(timeoutMs: number): Promise<void> {
    const message = `Redis at ${redactUrl(this.options.url)} did not answer within ${timeoutMs} ms`;
    await withTimeout(Promise.all([this.cmd.connect(), this.sub.connect()]), timeoutMs, message);
  }

  /** True once `close` or `destroy` began; every call then rejects. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /** Both connections are up, and the command connection answers. */
  get ready(): boolean {
    return this.cmd.isReady && this.overdue === 0 && this.sub.isReady;
  }

  /** The full name of a key or channel. */
  key(suffix: string): string {
    return this.prefix + suffix;
  }

  /** Run one of our scripts (EVALSHA, loading it on NOSCRIPT); connection trouble becomes BrokerUnavailableError. */
  async script(script: Script, keys: string[], args: string[]): Promise<Reply> {
    return this.call(async () => {
      try {
        return (await this.cmd.sendCommand(['EVALSHA', script.sha, String(keys.length), ...keys, ...args])) as Reply;
      } catch (err) {
        if (!(err instanceof ErrorReply && err.message.startsWith('NOSCRIPT'))) throw err;
        return (await this.cmd.sendCommand(['EVAL', script.source, String(keys.length), ...keys, ...args])) as Reply;
      }
    });
  }

  /**
   * Run a command on the command connection. Rejects with BrokerUnavailableError when closed,
   * disconnected, stalled (an earlier command is overdue), failing in transit or not answered
   * within `commandTimeoutMs`; a Redis error reply (ErrorReply) passes through as is.
   *
   * Stalled sends nothing, so a partitioned connection goes quiet and its idle timeout
   * (`idleTimeoutMs`) drops and reconnects it; before that, a late reply ends the stall.
   */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closedFlag) throw new BrokerUnavailableError('broker closed');
    if (!this.cmd.isReady) throw new BrokerUnavailableError('Redis is unreachable');
    if (this.overdue > 0) throw new BrokerUnavailableError(`Redis is not answering (a command is over ${this.commandTimeoutMs} ms)`);
    const running = fn();
    let entry!: Waiting;
    const timedOut = new Promise<never>((_, reject) => {
      entry = { since: this.redisClock(), running, reject };
    });
    this.waiting.add(entry);
    if (!this.watchdog) {
      this.lastTick = performance.now();
      this.watchdog = setInterval(guarded(this.options.log ?? silentLog, 'redis command watchdog', () => this.expireOverdue()), this.watchdogMs);
      this.watchdog.unref();
    }
    try {
      return await Promise.race([running, timedOut]);
    } catch (err) {
      if (err instanceof ErrorReply) throw err;
      if (err instanceof BrokerUnavailableError) throw err;
      throw new BrokerUnavailableError(`Redis is unreachable: ${(err as Error).message}`);
    } finally {
      this.waiting.delete(entry);
    }
  }

  /**
   * Fail the commands waiting longer than `commandTimeoutMs` (a timer per command would cost
   * every publish a timer). They count as overdue until their reply or the disconnect comes.
   */
  private expireOverdue(): void {
    // A late tick means the hub's event loop was busy (a reconnect storm's handshakes): replies
    // may be sitting unread in the socket, so that time is not held against Redis.
    const now = performance.now();
    this.hubBusyMs += Math.max(0, now - this.lastTick - this.watchdogMs);
    this.lastTick = now;
    const cutoff = this.redisClock() - this.commandTimeoutMs;
    for (const entry of this.waiting) {
      if (entry.since > cutoff) break; // oldest first: the rest are younger
      this.waiting.delete(entry);
      this.overdue++;
      const settled = () => this.overdue--;
      entry.running.then(settled, settled);
      entry.reject(new BrokerUnavailableError(`Redis did not answer within ${this.commandTimeoutMs} ms`));
    }
  }

  /** Wall time minus the time the hub's event loop was seen busy: what command deadlines run on. */
  private redisClock(): number {
    return performance.now() - this.hubBusyMs;
  }

  private stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  /** Close both connections (QUIT, then drop the sockets). */
  async close(): Promise<void> {
    this.closedFlag = true;
    await Promise.allSettled([this.cmd.close(), this.sub.close()]);
    this.destroy();
  }

  /** Drop both connections now. */
  destroy(): void {
    this.closedFlag = true;
    this.stopWatchdog();
    this.cmd.destroy();
    this.sub.destroy();
  }
}

/** A command waiting for its reply: when it was sent, and how to fail it. */
interface Waiting {
  since: number;
  running: Promise<unknown>;
  reject(err: Error): void;
}

const silentLog = { error: () => {} };

const redactUrl = (url: string) => url.replace(/\/\/[^@/]*@/, '//***@');

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new BrokerUnavailableError(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
