/**
 * The Redis broker's ordering logic, apart from Redis I/O: hands the hub every message exactly
 * once, in seq order per topic. It drops the copies that overlapping upstream subscriptions
 * bring, notices gaps (pub/sub is at-most-once and drops while disconnected), fills them from
 * history before live delivery resumes, says what it cannot fill (`onLost`), and follows epoch
 * changes (Redis lost its data), and a topic that was forgotten while idle and started again at
 * seq 1 (told from a copy by its newer time). Driven through `HistorySource`, so tests feed it fake pages.
 */
import { matches } from '../../../protocol/topics.ts';
import type { Envelope, HistoryPage, HistoryQuery, LostNotice } from '../broker.ts';
import { MapSweeper } from '../map-sweep.ts';

/** What this node last handed to the hub for a topic. */
interface Delivered {
  seq: number;
  ts: number;
}

/** What the sequencer needs from Redis; the broker implements it with scripts. */
export interface HistorySource {
  /** The live connection is up (a recovery started while it is down waits for the next `recover`). */
  ready(): boolean;
  /** Run before reading history: bring upstream subscriptions and presence back in line. */
  prepare(): Promise<void>;
  /** The epoch Redis has now (created if Redis lost it). */
  epoch(): Promise<string>;
  /** Start a new epoch because history went back (Redis restarted from an old snapshot). */
  rotateEpoch(old: string): Promise<string>;
  history(topic: string, query: HistoryQuery): Promise<HistoryPage>;
  /** Every topic with history. */
  topics(): Promise<string[]>;
  /** Local patterns: topics first published during an outage are replayed if they match one. */
  patterns(): Iterable<string>;
}

export interface SequencerEvents {
  deliver(env: Envelope): void;
  lost(notice: LostNotice): void;
  /** The epoch changed (after `lost`): the broker re-registers what Redis may have lost. */
  epochChanged(old: string, epoch: string): void;
  /** A recovery attempt failed and will be retried. */
  retrying(err: unknown): void;
}

export class Sequencer {
  private currentEpoch: string;
  /** Epochs this node has left; late messages of theirs are dropped, never re-adopted. */
  private readonly retired = new Set<string>();
  /** Last seq handed to the hub per topic (for dedupe, order and gap detection). */
  private readonly lastDelivered = new Map<string, Delivered>();
  private idleSweeper: MapSweeper<string, Delivered> | null = null;
  /** Redis time up to which this node has received everything published (from its own ticks). */
  private lastAliveTs = 0;
  private recovering = false;
  private pending: Envelope[] = [];
  private recovery: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    epoch: string,
    private readonly source: HistorySource,
    private readonly events: SequencerEvents,
    private readonly retryDelayMs = 250,
  ) {
    this.currentEpoch = epoch;
  }

  get epoch(): string {
    return this.currentEpoch;
  }

  /** True while live messages are held back until a gap is closed. */
  get holding(): boolean {
    return this.recovering;
  }

  /** The live connection dropped: hold live messages until `recover` has closed the gap. */
  hold(): void {
    this.recovering = true;
  }

  stop(): void {
    this.stopped = true;
  }

  /** This node's own liveness tick came back through pub/sub: everything up to `ts` has arrived. */
  alive(ts: number): void {
    if (!this.recovering) this.lastAliveTs = Math.max(this.lastAliveTs, ts);
  }

  /** A live message of `epoch`. */
  receive(env: Envelope, epoch: string): void {
    if (epoch !== this.currentEpoch) {
      if (this.retired.has(epoch)) return; // published before an epoch change; reset covers it
      this.adoptEpoch(epoch);
    }
    // Messages held during a recovery must not move the "alive until" mark: the recovery reads
    // unseen topics from that mark, and moving it past held messages would skip them for good.
    if (this.recovering) return void this.pending.push(env);
    if (env.ts > this.lastAliveTs) this.lastAliveTs = env.ts;
    this.accept(env);
  }

  /** Switch to the epoch Redis has; everything delivered so far belongs to the old one. Returns whether it changed. */
  adoptEpoch(epoch: string): boolean {
    if (epoch === this.currentEpoch || this.retired.has(epoch)) return false;
    const old = this.currentEpoch;
    this.retired.add(old);
    this.currentEpoch = epoch;
    this.lastDelivered.clear();
    this.lastAliveTs = 0; // every message of the new epoch is one this node has not delivered
    this.events.lost({ topics: null, reason: 'epoch' });
    this.events.epochChanged(old, epoch);
    return true;
  }

  /** Forget, a bounded slice at a time, topics whose last delivery `idle` calls old enough. */
  forgetIdle(budget: number, idle: (topic: string, lastTs: number) => boolean): void {
    this.idleSweeper ??= new MapSweeper(this.lastDelivered, (topic, d) => idle(topic, d.ts));
    this.idleSweeper.step(budget);
  }

  /** Stop tracking topics no upstream subscription covers any more. */
  forget(covered: (topic: string) => boolean): void {
    for (const topic of this.lastDelivered.keys()) if (!covered(topic)) this.lastDelivered.delete(topic);
  }

  /** Close the gap after a reconnect (or a detected gap); one recovery runs at a time. */
  recover(): Promise<void> {
    this.recovering = true;
    if (this.recovery) {
      this.again = true;
      return this.recovery;
    }
    this.recovery = (async () => {
      do {
        this.again = false;
        if (this.stopped || !this.source.ready()) return; // the next reconnect starts over
        try {
          await this.recoverOnce();
        } catch (err) {
          this.events.retrying(err);
          await new Promise((r) => setTimeout(r, this.retryDelayMs));
          this.again = true;
        }
      } while (this.again);
    })().finally(() => {
      this.recovery = null;
    });
    return this.recovery;
  }

  /** Hand a message to the hub unless it is a duplicate; a gap starts a recovery. */
  private accept(env: Envelope): void {
    const delivered = this.lastDelivered.get(env.topic);
    let last = delivered?.seq;
    if (last !== undefined && env.seq <= last) {
      if (env.ts <= delivered!.ts) return; // a copy (overlapping upstream subscriptions)
      last = undefined; // newer, yet not a higher seq: the topic was forgotten while idle and started over
    }
    if (last !== undefined && env.seq > last + 1) {
      this.pending.push(env);
      void this.recover();
      return;
    }
    this.lastDelivered.set(env.topic, { seq: env.seq, ts: env.ts });
    this.events.deliver(env);
  }

  private async recoverOnce(): Promise<void> {
    const { source } = this;
    await source.prepare();
    this.adoptEpoch(await source.epoch());
    const startEpoch = this.currentEpoch;
    const trimmed: string[] = [];
    /** What history fills in, delivered at the end merged with the held live messages in pos order. */
    const recovered: Envelope[] = [];
    // Topics this node delivered before: everything after the last seq it delivered.
    for (const [topic, { seq: last, ts: lastTs }] of [...this.lastDelivered]) {
      const page = await source.history(topic, { since: last });
      this.adoptEpoch(page.epoch);
      if (this.currentEpoch !== startEpoch) return void (this.again = true);
      if (page.lastSeq < last && (await this.forgottenSince(topic, lastTs, recovered))) continue;
      if (page.lastSeq < last) {
        // Same epoch but the counter went back: Redis restarted from an old snapshot.
        this.adoptEpoch(await source.rotateEpoch(this.currentEpoch));
        return void (this.again = true);
      }
      if (page.truncated) trimmed.push(topic);
      recovered.push(...page.messages);
    }
    // Topics first published while this node was cut off, matching its patterns.
    const patterns = [...source.patterns()];
    for (const topic of await source.topics()) {
      if (this.lastDelivered.has(topic) || !patterns.some((p) => matches(p, topic))) continue;
      const page = await source.history(topic, {});
      this.adoptEpoch(page.epoch);
      if (this.currentEpoch !== startEpoch) return void (this.again = true);
      recovered.push(...page.messages.filter((m) => m.ts >= this.lastAliveTs));
    }
    if (trimmed.length > 0) this.events.lost({ topics: trimmed, reason: 'trimmed' });
    if (this.again) return;
    // In pos order across topics, as live delivery is: an SSE stream's id (the highest pos it was
    // sent) then never passes a message of another topic this node has yet to deliver.
    const fromHistory = new Set(recovered);
    const merged = [...recovered, ...this.pending].sort((a, b) => a.pos - b.pos);
    this.pending = [];
    this.recovering = false;
    for (const env of merged) {
      if (fromHistory.has(env)) this.deliverRecovered(env); // what history holds is all there is: no gap check
      else if (this.recovering) this.pending.push(env);
      else this.accept(env);
    }
  }

  /**
   * The seq of `topic` went back. If nothing it holds is as old as what this node delivered, the
   * topic was forgotten while idle and started over: deliver its new messages and return true.
   * Otherwise Redis went back to an old snapshot (the caller starts a new epoch).
   */
  private deliverRecovered(env: Envelope): void {
    if (env.seq <= (this.lastDelivered.get(env.topic)?.seq ?? 0)) return;
    this.lastDelivered.set(env.topic, { seq: env.seq, ts: env.ts });
    this.events.deliver(env);
  }

  private async forgottenSince(topic: string, lastTs: number, recovered: Envelope[]): Promise<boolean> {
    const page = await this.source.history(topic, {});
    if (page.messages.some((m) => m.ts <= lastTs)) return false;
    this.lastDelivered.delete(topic);
    recovered.push(...page.messages);
    return true;
  }
}
