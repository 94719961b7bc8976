/**
 * The default broker: seqs, history and live delivery inside one process. Its epoch is new at
 * every start, because a restart loses all history.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { RetentionRule } from '../config.ts';
import { guarded } from '../guard.ts';
import { matches } from '../../protocol/topics.ts';
import { DEFAULT_MAX_TOPICS, TooManyTopicsError, exemptFromTopicCap, encodeMessage, flat, forgetAfterMs, type Broker, type DeliveryHandler, type Envelope, type HistoryPage, type HistoryQuery, type LostNotice, type Presence } from './broker.ts';
import { MemoryPresence } from './memory-presence.ts';
import { MapSweeper } from './map-sweep.ts';
import { Ring } from './ring.ts';

/** The idle-topic sweep visits this many topics every SWEEP_INTERVAL_MS (about 1 ms of work). */
const SWEEP_BATCH = 5_000;
const SWEEP_INTERVAL_MS = 250;

interface Stream {
  lastSeq: number;
  /** False when the retention rule keeps no messages (the ring still needs a capacity of 1). */
  keeps: boolean;
  ring: Ring<Envelope>;
  maxAgeMs: number;
  /** Clock time of the last publish, and how long after it the idle topic is forgotten. */
  lastPublishAt: number;
  forgetAfterMs: number;
}

export interface MemoryBrokerOptions {
  /** Retention per topic pattern; first match wins; topics that match none keep nothing. */
  retention: RetentionRule[];
  /** Live topics at most (MAX_TOPICS); a publish to a new topic beyond it is refused. */
  maxTopics?: number;
  /** Where a failing sweep is reported. */
  log?: Pick<Logger, 'error'>;
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
  /** One process: this node's own counters list every topic. */
  readonly shared = false;
  readonly epoch = randomBytes(6).toString('base64url');
  readonly nodeId = randomBytes(6).toString('base64url');
  readonly status = 'ok' as const;
  readonly presence: Presence = new MemoryPresence();
  private readonly streams = new Map<string, Stream>();
  private deliver: DeliveryHandler = () => {};
  /** Last `pos` given, across all topics (the epoch is per process, so is this). */
  private lastPos = 0;
  private readonly clock: () => number;
  private readonly maxTopics: number;
  private readonly sweeper: MapSweeper<string, Stream>;
  private readonly sweepTimer: ReturnType<typeof setInterval>;

  constructor(private readonly options: MemoryBrokerOptions) {
    this.clock = options.now ?? Date.now;
    this.maxTopics = options.maxTopics ?? DEFAULT_MAX_TOPICS;
    this.sweeper = new MapSweeper(this.streams, (_, stream) => this.idle(stream, this.clock()));
    const log = options.log ?? { error: () => {} };
    this.sweepTimer = setInterval(guarded(log, 'memory broker topic sweep', () => this.sweep()), SWEEP_INTERVAL_MS).unref();
  }

  /** Forget idle topics, one bounded slice per call (a timer calls it; tests may too). */
  sweep(budget = SWEEP_BATCH): number {
    return this.sweeper.step(budget);
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
    try {
      return Promise.resolve(this.publishNow(topic, dataJson, origin));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Synchronous publish: the hub's fast path when the broker is local. */
  publishNow(topic: string, dataJson: string, origin?: string): Envelope {
    const stream = this.stream(topic);
    const seq = ++stream.lastSeq;
    const ts = this.clock();
    stream.lastPublishAt = ts;
    const envelope: Envelope = { topic, seq, ts, pos: ++this.lastPos, json: encodeMessage(topic, seq, ts, dataJson), origin };
    if (stream.keeps) {
      flat(envelope.json); // history outlives the frame it was read from
      stream.ring.push(envelope);
      this.trimByAge(stream, ts);
    }
    this.deliver(envelope);
    return envelope;
  }

  async position(): Promise<number> {
    return this.lastPos;
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

  async topicCount(): Promise<number> {
    return this.streams.size;
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.streams.clear();
  }

  private stream(topic: string): Stream {
    let stream = this.streams.get(topic);
    if (!stream) {
      if (this.streams.size >= this.maxTopics && !exemptFromTopicCap(topic)) throw new TooManyTopicsError(this.maxTopics);
      const rule = this.options.retention.find((r) => matches(r.pattern, topic));
      const capacity = rule?.maxMessages ?? 0;
      const maxAgeMs = capacity > 0 ? (rule?.maxAgeSeconds ?? 0) * 1000 : 0;
      const forget = forgetAfterMs(capacity, maxAgeMs);
      stream = { lastSeq: 0, keeps: capacity > 0, ring: new Ring(Math.max(1, capacity)), maxAgeMs, lastPublishAt: 0, forgetAfterMs: forget };
      this.streams.set(topic, stream);
    }
    return stream;
  }

  /** True once nothing was published for `forgetAfterMs` and every retained message aged out. */
  private idle(stream: Stream, now: number): boolean {
    if (now - stream.lastPublishAt < stream.forgetAfterMs) return false;
    this.trimByAge(stream, now);
    return stream.ring.length === 0;
  }

  private trimByAge(stream: Stream, now: number): void {
    const oldest = now - stream.maxAgeMs;
    while (stream.ring.length > 0 && stream.ring.at(0).ts < oldest) stream.ring.shift();
  }
}
