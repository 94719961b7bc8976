/**
 * The scale-out seam: everything hub nodes must share. The memory broker serves one process;
 * a Redis broker will serve many. The Hub never asks which one it has.
 *
 * Guarantees every implementation gives:
 * - `publish` resolves only after the message has a seq and is in history; seqs per topic
 *   start at 1 and increase by exactly 1. Every message also gets a `pos`, strictly increasing
 *   across all topics within an epoch (gaps allowed), which history returns with it.
 * - Live delivery to the handler is at-most-once and in seq order per topic; anything missed
 *   live is recoverable from `history` by seq, as long as it is retained and the epoch holds.
 * - `epoch` changes whenever history may have been lost (e.g. the memory broker restarting, or
 *   Redis restarting without persistence). A broker that notices this while running says so
 *   through `onLost`, as it does when it finds a gap it cannot fill from history.
 * - `publish` rejects (with BrokerUnavailableError when the backend is unreachable) rather than
 *   lose a message silently, and with TooManyTopicsError for a new topic beyond MAX_TOPICS
 *   (the hub's own topics, `chat` and `$sys.*`, are never refused: no publisher can lock them out).
 * - A topic idle for `forgetAfterMs` (everything it retained aged out) is forgotten: its next
 *   message has seq 1 again. A resume from an older seq gets the hub's `reset` path.
 */
import { isSysTopic } from '../../protocol/topics.ts';
import type { Presence } from './presence.ts';

/** The presence port has its own file; re-exported so `broker.ts` stays the one import of the seam. */
export type { Presence } from './presence.ts';

/** A message as the broker hands it to the hub: already encoded, once. */
export interface Envelope {
  topic: string;
  seq: number;
  ts: number;
  /**
   * Global position: strictly increasing across all topics within an epoch (SSE ids, merged
   * resume). Not part of the wire JSON. 0 for a message stored before positions existed.
   */
  pos: number;
  /** The full wire JSON: `{"topic":..,"seq":..,"ts":..,"data":..}`. */
  json: string;
  /** Connection id of a local publisher, so line-mode chat is not echoed to its sender. */
  origin?: string;
}

export interface HistoryPage {
  epoch: string;
  /** Messages with seq > since (or the newest `limit`), oldest first. */
  messages: Envelope[];
  /** Highest seq ever assigned on the topic (0 if none). */
  lastSeq: number;
  /** True when messages after `since` existed but are no longer retained. */
  truncated: boolean;
}

export interface HistoryQuery {
  /** Return messages with seq greater than this. */
  since?: number;
  /** At most this many, the newest ones when `since` is absent. */
  limit?: number;
}

export type DeliveryHandler = (envelope: Envelope) => void;

/**
 * Live delivery could not be kept gap-free: `topics` null means everything (a new epoch);
 * otherwise only those topics lost messages (trimmed before they could be recovered).
 */
export interface LostNotice {
  topics: string[] | null;
  reason: 'epoch' | 'trimmed';
}

/** Topics MAX_TOPICS never refuses: the hub's own, which a publisher filling the cap must not lock out. */
export const exemptFromTopicCap = (topic: string): boolean => topic === 'chat' || isSysTopic(topic);

/** Publishing to a new topic would exceed MAX_TOPICS live topics; nothing was published. */
export class TooManyTopicsError extends Error {
  override name = 'TooManyTopicsError';
  constructor(readonly limit: number) {
    super(`at most ${limit} live topics (MAX_TOPICS); publish to an existing topic or wait until idle ones are forgotten`);
  }
}

/** A topic whose retention keeps no messages is forgotten after this long without a publish. */
export const IDLE_TOPIC_MS = 60_000;

/** Live topics a broker accepts unless told otherwise (MAX_TOPICS). */
export const DEFAULT_MAX_TOPICS = 100_000;

/**
 * How long after its last publish an idle topic is forgotten (its seq starts again at 1): once
 * its messages have all aged out (their max age), or IDLE_TOPIC_MS when its rule keeps none.
 */
export function forgetAfterMs(maxMessages: number, maxAgeMs: number): number {
  return maxMessages > 0 ? maxAgeMs : IDLE_TOPIC_MS;
}

/** The backend (e.g. Redis) is unreachable: the operation did not happen (or its outcome is unknown). */
export class BrokerUnavailableError extends Error {
  override name = 'BrokerUnavailableError';
}

export interface Broker {
  /** Names this process among the nodes sharing the broker (random per start). */
  readonly nodeId: string;
  /** Identifies the current history; see the guarantees above. May change while running. */
  readonly epoch: string;
  /** `degraded` while the backend is unreachable (publishes fail, live delivery paused). */
  readonly status: 'ok' | 'degraded';
  /**
   * True when other nodes publish through the same backend (Redis): `topics()` then knows topics
   * this node never delivered, and listings ask it. False for a broker of one process (memory).
   */
  readonly shared: boolean;
  readonly presence: Presence;
  /** Where live messages go; set once by the hub before the first publish. */
  onDeliver(handler: DeliveryHandler): void;
  /** Called when live delivery lost messages it cannot recover (see LostNotice). */
  onLost(handler: (notice: LostNotice) => void): void;
  /** The clock `ts` is taken from, in Unix ms (the local clock unless the broker has a shared one). */
  now(): number;
  /** The highest `pos` assigned so far in the current epoch (0 if none): where a stream starting now begins. */
  position(): Promise<number>;
  /** Assign the next seq, store in history, deliver live. `dataJson` is the JSON text of `data`. */
  publish(topic: string, dataJson: string, origin?: string): Promise<Envelope>;
  /**
   * Declare local interest in a pattern (the Redis broker subscribes upstream; memory ignores it).
   * Resolves once live delivery is in place: every message of a matching topic published from
   * then on reaches the handler. Rejects (BrokerUnavailableError when the backend is unreachable)
   * when it could not be put in place; the interest counts either way, for `unsubscribe` to take back.
   */
  subscribe(pattern: string): Promise<void>;
  unsubscribe(pattern: string): Promise<void>;
  history(topic: string, query: HistoryQuery): Promise<HistoryPage>;
  /** Live topics (not yet forgotten), optionally only those matching a pattern. */
  topics(pattern?: string): Promise<string[]>;
  /** How many live topics there are (what MAX_TOPICS caps). */
  topicCount(): Promise<number>;
  close(): Promise<void>;
}

/** Build the wire JSON of a message. `topic` is validated (no characters that need escaping). */
export function encodeMessage(topic: string, seq: number, ts: number, dataJson: string): string {
  return `{"topic":"${topic}","seq":${seq},"ts":${tsText(ts)},"data":${dataJson}}`;
}

/**
 * `json` as one flat string (returned for convenience). A message's text is built from pieces
 * (encodeMessage), and its `data` may be a slice of the frame or body it was published in
 * (publish-scan.ts); kept as pieces, a message in history would keep that whole frame alive, up
 * to MAX_PAYLOAD per message (measured: 2000 messages sliced from 60 KB frames held 117 MB, flat
 * 2.8 MB). Delivery flattens a message when it frames it; history must not wait for a subscriber.
 * V8 flattens a string in place when native code reads it; a byte count is such a read (and,
 * unlike a character read, cannot be optimised away).
 */
export function flat(json: string): string {
  Buffer.byteLength(json);
  return json;
}

/**
 * `head` (an object with members) as JSON text with a last member `messages` holding the
 * envelopes' own text: a history page says each message exactly as it was delivered live.
 */
export function withMessages(head: Record<string, unknown>, messages: readonly Envelope[]): string {
  let json = `${JSON.stringify(head).slice(0, -1)},"messages":[`;
  for (let i = 0; i < messages.length; i++) json += i === 0 ? messages[i].json : `,${messages[i].json}`;
  return `${json}]}`;
}

let lastTs = Number.NaN;
let lastTsText = '';

/**
 * `String(ts)`, remembered for the last ts: the messages of one millisecond (a batch) share it,
 * and a 13-digit timestamp is no small integer, so each conversion took V8's slow
 * number-to-string path (callgrind: ~800 instructions, a third of a batch message's envelope).
 */
export function tsText(ts: number): string {
  if (ts !== lastTs) {
    lastTs = ts;
    lastTsText = String(ts);
  }
  return lastTsText;
}

/**
 * Cut a page, oldest first, before the message that would take it over `maxBytes` (the first
 * message always goes, so paging on with `since` always advances).
 */
export function boundPage(page: HistoryPage, maxBytes: number): HistoryPage & { more: boolean } {
  let bytes = 0;
  for (let i = 0; i < page.messages.length; i++) {
    bytes += Buffer.byteLength(page.messages[i].json);
    if (bytes > maxBytes && i > 0) return { ...page, messages: page.messages.slice(0, i), more: true };
  }
  return { ...page, more: false };
}
