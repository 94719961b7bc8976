/**
 * Credentials have a lifetime on open connections too: a connection whose credential expires is
 * warned first (`expiring` frame, or a `! ...` line) JWT_EXPIRY_WARNING_MS before (half its life
 * when it is shorter than that), then told (`token_expired`, or a `! ...` line) and closed 4001.
 * One DueQueue for every connection and both kinds of entry; an `auth` with a fresh token
 * replaces the principal, so the old entries turn stale and new ones are queued.
 */
import type { Logger } from 'pino';
import { CloseCode, type Connection } from './connection.ts';
import { DueQueue } from './due-queue.ts';
import type { Principal } from './principal.ts';

const MESSAGE = 'your credential expired; reconnect with a fresh token (app mode: send auth with a fresh token before it expires)';

interface Due {
  conn: Connection;
  /** The principal the entry was queued for: another one on the connection makes it stale. */
  principal: Principal;
  kind: 'warn' | 'expire';
}

export class CredentialExpiry {
  private readonly due: DueQueue<Due>;

  /** @param warningMs how long before expiry the connection is warned (JWT_EXPIRY_WARNING_MS). */
  constructor(log: Pick<Logger, 'error'>, private readonly warningMs: number) {
    this.due = new DueQueue(log, 'credential expiry', (entry) => this.fall(entry));
  }

  /** Warn, then close `conn` when its credential expires; call on open and whenever its principal changes. */
  watch(conn: Connection): void {
    const principal = conn.principal;
    const at = principal.expiresAt;
    if (at === undefined || conn.closed) return;
    const life = at - Date.now();
    const now = performance.now();
    if (life > 0) this.due.add(now + (life > this.warningMs ? life - this.warningMs : life / 2), { conn, principal, kind: 'warn' });
    this.due.add(now + life, { conn, principal, kind: 'expire' });
  }

  clear(): void {
    this.due.clear();
  }

  /** Stale if the connection closed or has since moved on to another credential. */
  private fall({ conn, principal, kind }: Due): void {
    if (conn.closed || conn.principal !== principal) return;
    const at = principal.expiresAt!;
    if (kind === 'warn') {
      const left = Math.max(0, Math.round(at - Date.now()));
      if (conn.mode === 'line') conn.sendText(`! your credential expires in ${Math.max(1, Math.round(left / 1000))} s; reconnect with a fresh token`);
      else conn.sendJson({ op: 'expiring', at, in: left });
      return;
    }
    if (conn.mode === 'line') conn.sendText(`! ${MESSAGE}`);
    else conn.sendJson({ op: 'error', code: 'token_expired', message: MESSAGE });
    conn.close(CloseCode.credentialExpired, 'credential expired');
  }
}
