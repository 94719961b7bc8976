/**
 * Liveness for every socket on one timer. Each tick visits one slice of the connections, so
 * every connection is pinged once per HEARTBEAT_MS and terminated if it has not answered (pong
 * or any frame; an SSE stream, write progress) since its last visit. SSE streams get a comment
 * instead of a ping (transport.ts). Slicing spreads the pings and the burst of pongs they
 * trigger, which would otherwise stall delivery to everyone for a moment every HEARTBEAT_MS
 * (an estimated ~20 ms at 1000 sockets here).
 */
import type { Logger } from 'pino';
import { guarded } from '../guard.ts';
import type { Connection } from './connection.ts';

/** The sweep visits 1/SLICES of the connections every HEARTBEAT_MS/SLICES. */
const SLICES = 10;

export class Heartbeat {
  private readonly timer: ReturnType<typeof setInterval>;
  private tick = 0;
  private assigned = 0;

  constructor(
    private readonly connections: ReadonlySet<Connection>,
    heartbeatMs: number,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(guarded(log, 'heartbeat', () => this.sweep()), heartbeatMs / SLICES);
    this.timer.unref();
  }

  /** Give a new connection its slice, round robin. */
  enrol(conn: Connection): void {
    conn.heartbeatSlot = this.assigned++ % SLICES;
    conn.transport.onPong(conn);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sweep(): void {
    const slot = this.tick++ % SLICES;
    for (const conn of this.connections) {
      if (conn.heartbeatSlot !== slot) continue;
      if (!conn.alive) {
        this.log.info({ conn: conn.id }, 'heartbeat missed, terminating');
        conn.terminate();
        continue;
      }
      conn.alive = false;
      try {
        conn.heartbeat();
      } catch {
        conn.terminate();
      }
    }
  }
}
