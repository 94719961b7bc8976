/** Taps: read-only streams of messages for `wscat -c ws://host/ws/<pattern>[,<pattern>]`. */
import type { Connection } from '../core/connection.ts';
import type { Hub, SubscribeOptions } from '../core/hub.ts';
import type { WelcomeFrame } from '../../protocol/wire.ts';
import type { Session } from './session.ts';

/**
 * A tap's first frame is a welcome with the epoch and `ts`, the hub time its subscriptions took
 * effect, so it can resume elsewhere (`?since=<topic>:<seq>,..&sinceTs=<ts>&epoch=<epoch>`);
 * then messages, `reset` frames and errors.
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

  /**
   * Sends the welcome, then subscribes every pattern. `ts` is read before the first subscription
   * is in place, so nothing the tap misses of a topic it never saw is older than `ts`.
   */
  start(): void {
    const { hub, conn } = this;
    const { patterns, options } = this.request!;
    this.request = null;
    const welcome: WelcomeFrame = { op: 'welcome', v: 1, epoch: hub.epoch, node: hub.nodeId, role: conn.principal.role, maxPayload: hub.config.maxPayload, ts: hub.broker.now() };
    conn.sendJson(welcome);
    for (const pattern of patterns) {
      hub.subscribe(conn, pattern, options).catch((err) => {
        hub.logError(err, conn);
        conn.sendJson({ op: 'error', code: 'internal', message: `could not subscribe to '${pattern}'` });
      });
    }
  }

  onText(): void {
    this.conn.sendJson({ op: 'error', code: 'forbidden', message: 'taps are read-only; use /ws (chat) or the hub.v1 subprotocol to send' });
  }
}
