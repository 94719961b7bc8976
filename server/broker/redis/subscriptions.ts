/**
 * This node's upstream pub/sub: local interest (hub patterns, reference-counted) turned into
 * Redis channel and glob subscriptions by the pure planner (upstream.ts), and the live messages
 * they bring decoded into envelopes.
 */
import type { Logger } from 'pino';
import { BrokerUnavailableError, type Envelope } from '../broker.ts';
import type { RedisClient } from './client.ts';
import { isCovered, planUpstream, type UpstreamKind } from './upstream.ts';

export interface SubscriptionEvents {
  /** A live message, decoded; `epoch` is the one it was published in. */
  message(env: Envelope, epoch: string): void;
  /** After each sync: which topics the upstream subscriptions still cover. */
  synced(covered: (topic: string) => boolean): void;
}

/**
 * @example
 * const subs = new UpstreamSubscriptions(redis, { message: (env, epoch) => ..., synced: () => {} });
 * await subs.add('ticks.*'); // PSUBSCRIBE th:m:ticks.*
 */
export class UpstreamSubscriptions {
  /** Local interest: hub pattern -> number of local subscriptions. */
  private readonly refs = new Map<string, number>();
  /** Upstream subscriptions in place: Redis channel or glob -> kind. */
  private readonly upstream = new Map<string, UpstreamKind>();
  private syncing: Promise<void> = Promise.resolve();

  constructor(
    private readonly redis: RedisClient,
    private readonly events: SubscriptionEvents,
    private readonly log?: Logger,
  ) {}

  /**
   * One more local subscription to `pattern`. Resolves once an upstream subscription covering it
   * is in place (Redis confirmed it), so every message published from then on reaches this node;
   * rejects with BrokerUnavailableError when it could not be put in place (Redis unreachable).
   * The local interest stays counted either way: `remove` takes it back.
   */
  async add(pattern: string): Promise<void> {
    this.refs.set(pattern, (this.refs.get(pattern) ?? 0) + 1);
    await this.sync();
    if (!isCovered(pattern, this.upstream, this.redis.prefix)) {
      throw new BrokerUnavailableError(this.redis.closed ? 'broker closed' : `Redis did not confirm the subscription to '${pattern}'`);
    }
  }

  /** One local subscription to `pattern` fewer; upstream goes with the last one. */
  remove(pattern: string): Promise<void> {
    const n = (this.refs.get(pattern) ?? 0) - 1;
    if (n > 0) this.refs.set(pattern, n);
    else this.refs.delete(pattern);
    return this.sync();
  }

  /** The hub patterns with local interest. */
  patterns(): IterableIterator<string> {
    return this.refs.keys();
  }

  /** Upstream channels and globs in place, sorted. */
  channels(): string[] {
    return [...this.upstream.keys()].sort();
  }

  /**
   * Bring the upstream subscriptions in line with local interest, one sync at a time.
   * Subscribes before it unsubscribes, so moving a topic from its channel to a covering glob
   * loses nothing. If Redis is down it leaves the rest for the reconnect (which calls it again).
   */
  sync(): Promise<void> {
    const run = async () => {
      if (this.redis.closed) return;
      const { sub, prefix } = this.redis;
      const wanted = planUpstream(this.refs.keys(), prefix);
      try {
        for (const [name, kind] of wanted) {
          if (this.upstream.has(name)) continue;
          const listener = (message: string, channel: string) => this.onMessage(channel, message);
          if (kind === 'channel') await sub.subscribe(name, listener);
          else await sub.pSubscribe(name, listener);
          this.upstream.set(name, kind);
        }
        for (const [name, kind] of [...this.upstream]) {
          if (wanted.has(name)) continue;
          if (kind === 'channel') await sub.unsubscribe(name);
          else await sub.pUnsubscribe(name);
          this.upstream.delete(name);
        }
      } catch (err) {
        this.log?.warn({ err: (err as Error).message }, 'upstream (un)subscribe deferred until Redis is back');
      }
      this.events.synced((topic) => isCovered(topic, this.upstream, prefix));
    };
    this.syncing = this.syncing.then(run);
    return this.syncing;
  }

  private onMessage(channel: string, message: string): void {
    const { env, epoch } = decodeLive(channel, message, this.redis.prefix, this.redis.nodeId);
    this.events.message(env, epoch);
  }
}

/**
 * A pub/sub message: `<epoch> <seq> <ts> <pos> <origin> <json>` on `<prefix>m:<topic>` (publish.lua).
 * `origin` (`<node>/<connection>`, or `-`) is kept only when `nodeId` published it.
 */
export function decodeLive(channel: string, message: string, prefix: string, nodeId: string): { env: Envelope; epoch: string } {
  const a = message.indexOf(' ');
  const b = message.indexOf(' ', a + 1);
  const c = message.indexOf(' ', b + 1);
  const d = message.indexOf(' ', c + 1);
  const e = message.indexOf(' ', d + 1);
  const epoch = message.slice(0, a);
  const ts = Number(message.slice(b + 1, c));
  const origin = message.slice(d + 1, e);
  const slash = origin.indexOf('/');
  const env: Envelope = {
    topic: channel.slice(prefix.length + 2),
    seq: Number(message.slice(a + 1, b)),
    ts,
    pos: Number(message.slice(c + 1, d)),
    json: message.slice(e + 1),
    origin: slash > 0 && origin.slice(0, slash) === nodeId ? origin.slice(slash + 1) : undefined,
  };
  return { env, epoch };
}
