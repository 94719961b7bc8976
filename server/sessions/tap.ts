/** Taps: read-only streams of messages for `wscat -c ws://host/ws/<pattern>[,<pattern>]`. */
import type { Connection } from '../core/connection.ts';
import type { Hub, SubscribeOptions } from '../core/hub.ts';
import type { Session } from './session.ts';

export class TapSession implements Session {
  constructor(
    private readonly hub: Hub,
    private readonly conn: Connection,
    private readonly patterns: string[],
    private readonly options: SubscribeOptions,
  ) {}

  start(): void {
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
