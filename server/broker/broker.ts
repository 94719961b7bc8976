/**
 * The scale-out seam: everything hub nodes must share. The memory broker serves one process;
 * a Redis broker will serve many. The Hub never asks which one it has.
 *
 * Guarantees every implementation gives:
 * - `publish` resolves only after the message has a seq and is in history; seqs per topic
 *   start at 1 and increase by exactly 1.
 * - Live delivery to the handler is at-most-once and in seq order per topic; anything missed
 *   live is recoverable from `history` by seq, as long as it is retained and the epoch holds.
 * - `epoch` changes whenever history may have been lost (e.g. the memory broker restarting).
 */

/** A message as the broker hands it to the hub: already encoded, once. */
export interface Envelope {
  topic: string;
  seq: number;
  ts: number;
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

export interface Broker {
  /** Identifies the current history; see the guarantees above. */
  readonly epoch: string;
  /** Where live messages go; set once by the hub before the first publish. */
  onDeliver(handler: DeliveryHandler): void;
  /** Assign the next seq, store in history, deliver live. `dataJson` is the JSON text of `data`. */
  publish(topic: string, dataJson: string, origin?: string): Promise<Envelope>;
  /** Declare local interest in a pattern (the Redis broker subscribes upstream; memory ignores it). */
  subscribe(pattern: string): Promise<void>;
  unsubscribe(pattern: string): Promise<void>;
  history(topic: string, query: HistoryQuery): Promise<HistoryPage>;
  /** Topics that have history, optionally only those matching a pattern. */
  topics(pattern?: string): Promise<string[]>;
  close(): Promise<void>;
}

/** Build the wire JSON of a message. `topic` is validated (no characters that need escaping). */
export function encodeMessage(topic: string, seq: number, ts: number, dataJson: string): string {
  return `{"topic":"${topic}","seq":${seq},"ts":${ts},"data":${dataJson}}`;
}
