/**
 * The seam between HubClient and the ways it reaches the hub (ws-transport.ts: an app-mode
 * WebSocket; sse-transport.ts: an SSE stream plus HTTP requests). HubClient owns the
 * subscriptions and their resume positions; a transport reads them to (re)subscribe and reports
 * what the hub sends back.
 */
import type { ClientRequest, ExpiringFrame, HubMessage, OkReply, ResetFrame, WelcomeFrame } from '../protocol/wire.ts';
import { MAX_SINCE_TOPICS } from '../protocol/limits.ts';

export type TransportKind = 'ws' | 'sse';

export interface SubscribeOptions {
  /** Ask for the last N messages per topic before live ones (first connect only). */
  snapshot?: number;
  /** Deliver at most this many messages per second per topic (latest value wins). */
  maxHz?: number;
  /** The hub could not replay a gap: state derived from earlier messages of `topic` is stale. */
  onReset?: (reset: ResetFrame) => void;
}

export interface Subscription {
  pattern: string;
  onMessage: (msg: HubMessage) => void;
  options: SubscribeOptions;
  /** Last seq seen per concrete topic: what a resume asks for. */
  lastSeq: Map<string, number>;
  /** Hub time of that last message: a seq 1 newer than it is a topic that started over, an older one a replay. */
  lastTs: Map<string, number>;
  /** Hub time the subscription first took effect: a resume replays unseen topics from here. */
  sinceTs?: number;
}

/** What transports share with the client: its subscriptions, epoch and credential, read live. */
export interface ClientState {
  readonly subs: ReadonlyMap<string, Subscription>;
  /** The epoch of the positions in `subs` (null before the first welcome). */
  readonly epoch: string | null;
  /** The token for the next connect or request. */
  readonly token: string | undefined;
}

/** What a transport reports to the client that owns it. */
export interface TransportEvents {
  /** The hub's welcome: the transport is open (null: open without one, an SSE transport with no stream). */
  welcome(frame: WelcomeFrame | null): void;
  message(msg: HubMessage): void;
  reset(frame: ResetFrame): void;
  expiring(frame: ExpiringFrame): void;
  /** The transport is gone for good (it never reconnects itself); `opened`: it had welcomed. */
  closed(opened: boolean): void;
}

export type RequestBody = DistributiveOmit<ClientRequest, 'id'>;

export interface Transport {
  readonly kind: TransportKind;
  /**
   * After `welcome`: put every subscription of the state in place with its resume positions.
   * `epochChanged`: the hub has another epoch than the positions (they are dropped after use).
   */
  resubscribe(welcome: WelcomeFrame, epochChanged: boolean): void;
  /** A subscription was added (or replaced) while open. */
  subscribed(sub: Subscription): void;
  /** A subscription was removed while open. */
  unsubscribed(pattern: string): void;
  /** One request, answered with the ok reply or rejected with a HubError. */
  request(body: RequestBody): Promise<OkReply>;
  /** Close without reporting `closed`. */
  close(): void;
}

/** Forget what a subscription saw (another epoch): it starts over from what the hub sends next. */
export function forgetPositions(sub: Subscription): void {
  sub.lastSeq.clear();
  sub.lastTs.clear();
  sub.sinceTs = undefined;
}

/**
 * The `since` of a resume, at most MAX_SINCE_TOPICS topics (the hub refuses more) and at most
 * `maxChars` of `topic:seq,` text (it rides in a URL for taps and SSE). Topics left out replay
 * from `sinceTs`; what of that the client has already is dropped by its seq check.
 */
export function sinceOf(lastSeq: ReadonlyMap<string, number>, maxChars = Infinity): Record<string, number> {
  const since: Record<string, number> = Object.create(null);
  let n = 0;
  let chars = 0;
  for (const [topic, seq] of lastSeq) {
    chars += topic.length + String(seq).length + 2;
    if (n++ === MAX_SINCE_TOPICS || chars > maxChars) break;
    since[topic] = seq;
  }
  return since;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
