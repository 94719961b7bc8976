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
  constructor(
    private readonly hub: Hub,
    private readonly conn: Connection,
    private readonly patterns: string[],
    private readonly options: SubscribeOptions,
  ) {}

  /**
   * Sends the welcome, then subscribes every pattern. `ts` is read before the first subscription
   * is in place, so nothing the tap misses of a topic it never saw is older than `ts`.
   */
  start(): void {
    const { hub, conn } = this;
    const welcome: WelcomeFrame = { op: 'welcome', v: 1, epoch: hub.epoch, node: hub.nodeId, role: conn.principal.role, maxPayload: hub.config.maxPayload, ts: hub.broker.now() };
    conn.sendJson(welcome);
    for (const pattern of this.patterns) {
      this.hub.subscribe(this.conn, pattern, this.options).catch((err) => {
        this.hub.logError(err, this.conn);
        this.conn.sendJson({ op: 'error', code: 'internal', message: `could not subscribe to '${pattern}'` });
      });
    }
  }

  onText(): void {
    this.conn.sendJson({ op: 'error', code: 'forbidden', message: 'taps are read-only; use /ws (chat) or the hub.v1 subprotocol to send' });
  }
}
