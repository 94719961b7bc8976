/**
 * Credentials have a lifetime on open connections too: when a connection's credential expires
 * it is told (`token_expired`, or a `! ...` line) and closed 4001. One DueQueue for every
 * connection; an `auth` with a fresh token moves the expiry and the old entry turns stale.
 */
import type { Logger } from 'pino';
import { CloseCode, type Connection } from './connection.ts';
import { DueQueue } from './due-queue.ts';

const MESSAGE = 'your credential expired; reconnect with a fresh token (app mode: send auth with a fresh token before it expires)';

export class CredentialExpiry {
  private readonly due: DueQueue<{ conn: Connection; at: number }>;

  constructor(log: Pick<Logger, 'error'>) {
    this.due = new DueQueue(log, 'credential expiry', ({ conn, at }) => this.expire(conn, at));
  }

  /** Close `conn` when its credential expires; call on open and whenever its principal changes. */
  watch(conn: Connection): void {
    const at = conn.principal.expiresAt;
    if (at === undefined || conn.closed) return;
    this.due.add(performance.now() + (at - Date.now()), { conn, at });
  }

  clear(): void {
    this.due.clear();
  }

  /** Stale if the connection closed or has since moved on to another credential. */
  private expire(conn: Connection, at: number): void {
    if (conn.closed || conn.principal.expiresAt !== at) return;
    if (conn.mode === 'line') conn.sendText(`! ${MESSAGE}`);
    else conn.sendJson({ op: 'error', code: 'token_expired', message: MESSAGE });
    conn.close(CloseCode.credentialExpired, 'credential expired');
  }
}
