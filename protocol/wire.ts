/**
 * Wire types of protocol v1 (see docs/protocol.md). Shared by the hub, the simulator, the
 * dashboard and the tests, so a change here is a protocol change.
 */
import type { ErrorCode } from './errors.ts';

export type { ErrorCode };

/** Subprotocol name that selects app mode on `GET /ws`. */
export const APP_SUBPROTOCOL = 'hub.v1';

/** A message as delivered to subscribers. */
export interface HubMessage<T = unknown> {
  topic: string;
  seq: number;
  ts: number;
  data: T;
}

export type RequestId = number | string;

/** `since` is either one seq (exact topic) or a map of topic -> last seen seq (patterns). */
export type SinceSpec = number | Record<string, number>;

export type ClientRequest =
  | { op: 'sub'; id: RequestId; topic: string; snapshot?: number; since?: SinceSpec; sinceTs?: number; epoch?: string; maxHz?: number }
  | { op: 'unsub'; id: RequestId; topic: string }
  | { op: 'pub'; id: RequestId; topic: string; data: unknown }
  /** Batch publish: answered by one ok with `results[i]` for `messages[i]` (see PublishBatchResult). */
  | { op: 'pubs'; id: RequestId; messages: unknown[] }
  | { op: 'history'; id: RequestId; topic: string; since?: number; limit?: number }
  | { op: 'auth'; id: RequestId; token: string }
  | { op: 'ping'; id: RequestId };

export interface OkReply {
  op: 'ok';
  id: RequestId;
  [field: string]: unknown;
}

/** One message of a batch: `{topic, data}`, as `pub` takes them. */
export interface PublishBatchItem<T = unknown> {
  topic: string;
  data: T;
}

/** The outcome of one message of a batch publish: its seq and ts, or why it was not published. */
export type PublishBatchResult = { seq: number; ts: number } | { error: { code: ErrorCode; message: string } };

export interface ErrorReply {
  op: 'error';
  id?: RequestId;
  code: ErrorCode;
  message: string;
}

export interface WelcomeFrame {
  op: 'welcome';
  v: 1;
  epoch: string;
  /** The node this connection is served by (in a cluster, `$sys.stats` of other nodes carry other ids). */
  node: string;
  role: string;
  maxPayload: number;
  /**
   * Taps only: the hub time (ms) the tap's subscriptions took effect, at or before any message it
   * gets. A resuming tap passes the first welcome's `ts` back as `sinceTs`.
   */
  ts?: number;
}

/** The hub cannot replay what was asked: the client must drop its state for `topic` and rebuild from what follows. */
export interface ResetFrame {
  op: 'reset';
  topic: string;
  epoch: string;
  reason: 'epoch' | 'trimmed';
}

/** The connection's credential expires `in` ms, at `at` (Unix ms): send `auth` with a fresh token before, or it is closed 4001. */
export interface ExpiringFrame {
  op: 'expiring';
  at: number;
  in: number;
}

export type ServerFrame = HubMessage | OkReply | ErrorReply | WelcomeFrame | ResetFrame | ExpiringFrame;

/** Chat message payload on topic `chat`. */
export interface ChatData {
  nick: string;
  text: string;
  kind?: 'join' | 'leave' | 'nick';
}
