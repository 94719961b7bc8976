/** Taps: read-only streams of messages for `wscat -c ws://host/ws/<pattern>[,<pattern>]`. */
import type { Connection } from '../core/connection.ts';
import type { Hub, SubscribeOptions } from '../core/hub.ts';
import type { Session } from './session.ts';
import { streamFailed, streamWelcome } from './stream.ts';

/**
 * A tap's first frame is a welcome with the epoch and `ts`, sent once every subscription is live:
 * every message published after it reaches the tap. `ts`, the hub time read just before the
 * subscriptions were put in place, lets it resume elsewhere
 * (`?since=<topic>:<seq>,..&sinceTs=<ts>&epoch=<epoch>`); then messages, `reset` frames and
 * errors. A tap whose subscriptions cannot be put in place gets an error and close 1011 instead.
 */
export class TapSession implements Session {
  /** What to subscribe to, until start() has: an idle tap lives long and needs none of it after. */
  private request: { patterns: readonly string[]; options: SubscribeOptions } | null;

  constructor(
    private readonly hub: Hub,
    private readonly conn: Connection,
    patterns: readonly string[],
    options: SubscribeOptions,
  ) {
    this.request = { patterns, options };
  }

  /** Subscribes every pattern; the welcome goes once all are live, before any message. */
  start(): void {
    const { hub, conn } = this;
    const { patterns, options } = this.request!;
    this.request = null;
    const accepted = (ts: number) => conn.sendJson(streamWelcome(hub, conn, ts));
    hub.subscribeAll(conn, patterns, { ...options, accepted }).catch((err: unknown) => streamFailed(hub, conn, err));
  }

  onText(): void {
    this.conn.sendJson({ op: 'error', code: 'forbidden', message: 'taps are read-only; use /ws (chat) or the hub.v1 subprotocol to send' });
  }
}
