/**
 * The default broker: seqs, history and live delivery inside one process. Its epoch is new at
 * every start, because a restart loses all history.
 */
import { randomBytes } from 'node:crypto';
import type { RetentionRule } from '../config.ts';
import { matches } from '../../protocol/topics.ts';
import { encodeMessage, type Broker, type DeliveryHandler, type Envelope, type HistoryPage, type HistoryQuery, type LostNotice, type Presence } from './broker.ts';
import { Ring } from './ring.ts';

interface Stream {
  lastSeq: number;
  /** False when the retention rule keeps no messages (the ring still needs a capacity of 1). */
  keeps: boolean;
  ring: Ring<Envelope>;
  maxAgeMs: number;
}

export interface MemoryBrokerOptions {
  /** Retention per topic pattern; first match wins; topics that match none keep nothing. */
  retention: RetentionRule[];
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * @example
 * const broker = new MemoryBroker({ retention: defaultRetention });
 * broker.onDeliver((env) => console.log(env.json));
 * await broker.publish('ticks.AAPL', '{"last":190}'); // seq 1
 */
export class MemoryBroker implements Broker {
  readonly epoch = randomBytes(6).toString('base64url');
  readonly nodeId = randomBytes(6).toString('base64url');
  readonly status = 'ok' as const;
  readonly presence: Presence = new MemoryPresence();
  private readonly streams = new Map<string, Stream>();
  private deliver: DeliveryHandler = () => {};
  private readonly clock: () => number;

  constructor(private readonly options: MemoryBrokerOptions) {
    this.clock = options.now ?? Date.now;
  }

  onDeliver(handler: DeliveryHandler): void {
    this.deliver = handler;
  }

  /** One process never loses messages while running. */
  onLost(_handler: (notice: LostNotice) => void): void {}

  now(): number {
    return this.clock();
  }

  publish(topic: string, dataJson: string, origin?: string): Promise<Envelope> {
    return Promise.resolve(this.publishNow(topic, dataJson, origin));
  }

  /** Synchronous publish: the hub's fast path when the broker is local. */
  publishNow(topic: string, dataJson: string, origin?: string): Envelope {
    const stream = this.stream(topic);
    const seq = ++stream.lastSeq;
    const ts = this.clock();
    const envelope: Envelope = { topic, seq, ts, json: encodeMessage(topic, seq, ts, dataJson), origin };
    if (stream.keeps) {
      stream.ring.push(envelope);
      this.trimByAge(stream, ts);
    }
    this.deliver(envelope);
    return envelope;
  }

  async subscribe(): Promise<void> {}
  async unsubscribe(): Promise<void> {}

  async history(topic: string, query: HistoryQuery): Promise<HistoryPage> {
    return this.historyNow(topic, query);
  }

  /** Synchronous history read, so a replay and the live stream can be stitched in one turn. */
  historyNow(topic: string, { since, limit }: HistoryQuery): HistoryPage {
    const stream = this.streams.get(topic);
    if (!stream) return { epoch: this.epoch, messages: [], lastSeq: 0, truncated: false };
    this.trimByAge(stream, this.clock());
    const { ring } = stream;
    const firstSeq = ring.length ? ring.at(0).seq : stream.lastSeq + 1;
    let start = 0;
    let truncated = false;
    if (since !== undefined) {
      start = Math.max(0, since + 1 - firstSeq);
      truncated = since + 1 < firstSeq && since < stream.lastSeq;
    }
    let end = ring.length;
    if (limit !== undefined) {
      if (since === undefined) start = Math.max(0, end - limit);
      else end = Math.min(end, start + limit);
    }
    const messages: Envelope[] = [];
    for (let i = start; i < end; i++) messages.push(ring.at(i));
    return { epoch: this.epoch, messages, lastSeq: stream.lastSeq, truncated };
  }

  async topics(pattern?: string): Promise<string[]> {
    const all = [...this.streams.keys()];
    return pattern ? all.filter((t) => matches(pattern, t)) : all;
  }

  async close(): Promise<void> {
    this.streams.clear();
  }

  private stream(topic: string): Stream {
    let stream = this.streams.get(topic);
    if (!stream) {
      const rule = this.options.retention.find((r) => matches(r.pattern, topic));
      const capacity = rule?.maxMessages ?? 0;
      stream = { lastSeq: 0, keeps: capacity > 0, ring: new Ring(Math.max(1, capacity)), maxAgeMs: (rule?.maxAgeSeconds ?? 0) * 1000 };
      if (capacity === 0) stream.maxAgeMs = 0;
      this.streams.set(topic, stream);
    }
    return stream;
  }

  private trimByAge(stream: Stream, now: number): void {
    const oldest = now - stream.maxAgeMs;
    while (stream.ring.length > 0 && stream.ring.at(0).ts < oldest) stream.ring.shift();
  }
}

/** Presence inside one process: nick -> connection id. Nothing expires; connections leave. */
export class MemoryPresence implements Presence {
  private readonly holders = new Map<string, string>();

  async claim(nick: string, connId: string): Promise<boolean> {
    const holder = this.holders.get(nick);
    if (holder !== undefined && holder !== connId) return false;
    this.holders.set(nick, connId);
    return true;
  }

  async release(nick: string, connId: string): Promise<void> {
    if (this.holders.get(nick) === connId) this.holders.delete(nick);
  }

  async list(): Promise<string[]> {
    return [...this.holders.keys()].sort();
  }

  onExpired(): void {}
}
