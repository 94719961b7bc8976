/**
 * WebSocket routes: `/ws` (line or app mode) and `/ws/<patterns>` (taps). Everything that can
 * refuse a client — credentials, origin, per-IP limit, bad patterns — is checked before any
 * WebSocket exists (admission.ts, shared with the SSE route), so refusals are plain HTTP statuses.
 */
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { hasRole, type Authenticator, type Principal } from '../core/principal.ts';
import { AppSession } from '../sessions/app.ts';
import { CloseCode, type Connection, type ConnectionMode } from '../core/connection.ts';
import { WsTransport } from '../core/transport.ts';
import type { AddressSlot } from '../core/address-slots.ts';
import type { Hub } from '../core/hub.ts';
import { LineSession } from '../sessions/line.ts';
import type { ChatService } from '../chat/chat.ts';
import { TokenBucket } from './rate-limit.ts';
import type { Session } from '../sessions/session.ts';
import { TapSession } from '../sessions/tap.ts';
import { APP_SUBPROTOCOL } from '../../protocol/wire.ts';
import { leanUpgrade } from './lean-upgrade.ts';
import type { Env } from './http-util.ts';
import { streamRequest, type Admission, type Admit } from './admission.ts';

/** The WebSocket routes; `admitAny` is the admission shared with the SSE route (admission.ts). */
export function createWsRoutes(hub: Hub, chat: ChatService, auth: Authenticator, log: Logger, admitAny: Admit): Hono<Env> {
  const { config } = hub;
  const routes = new Hono<Env>();

  /** The shared admission (admission.ts), for WebSocket upgrades only. */
  async function admit(c: Context<Env>, what: string): Promise<Admission | Response> {
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      return c.text(`this is a WebSocket endpoint: wscat -c ws://${c.req.header('host') ?? 'host'}${what}\n`, 426);
    }
    return admitAny(c);
  }

  routes.get('/ws', async (c): Promise<Response> => {
    const admitted = await admit(c, '/ws');
    if (admitted instanceof Response) return admitted;
    const offered = (c.req.header('sec-websocket-protocol') ?? '').split(',').map((s) => s.trim());
    const mode: ConnectionMode = offered.includes(APP_SUBPROTOCOL) ? 'app' : 'line';
    return leanUpgrade(
      c,
      socketOpener(c, mode, admitted.principal, (conn) => (mode === 'app' ? new AppSession(hub, conn, auth) : new LineSession(hub, chat, conn)), admitted.slot),
    );
  });

  routes.get('/ws/:patterns{.+}', async (c): Promise<Response> => {
    const request = streamRequest(c, config.maxSubscriptionsPerConnection);
    if (request instanceof Response) return request;
    const { patterns, options } = request;
    const admitted = await admit(c, `/ws/${patterns.join(',')}`);
    if (admitted instanceof Response) return admitted;
    return leanUpgrade(c, socketOpener(c, 'tap', admitted.principal, (conn) => new TapSession(hub, conn, patterns, options), admitted.slot));
  });

  /** Frames per second and burst for a principal. */
  const rateOf = (p: Principal): [number, number] =>
    hasRole(p, 'publisher') ? [config.publisherRateLimitPerSecond, config.publisherRateLimitPerSecond] : [config.rateLimitPerSecond, config.rateLimitBurst];

  /** Wire an open socket to the hub: register, rate-limit, dispatch, clean up. */
  function socketOpener(c: Context<Env>, mode: ConnectionMode, principal: Principal, createSession: (conn: Connection) => Session, slot: AddressSlot): (socket: WebSocket) => void {
    const { remote } = slot;
    const { peer } = c.get('client');
    return (socket: WebSocket): void => {
      const conn = hub.attach(new WsTransport(socket), mode, principal, slot);
      const session = createSession(conn);
      // One bucket for the connection's whole life, made at its first frame (taps never send):
      // a new credential changes its rate, never refills it.
      let bucket: TokenBucket | undefined;
      let bucketFor = principal;
      log.info({ conn: conn.id, mode, role: principal.role, subject: principal.subject, remote, ...(peer !== remote && { peer }) }, 'connection open');
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        if (conn.closed) return;
        conn.alive = true;
        conn.framesIn++;
        if (!bucket) {
          bucketFor = conn.principal;
          bucket = new TokenBucket(...rateOf(conn.principal), config.rateLimitStrikes);
        } else if (bucketFor !== conn.principal) {
          bucketFor = conn.principal; // the auth op changed it
          bucket.retune(...rateOf(conn.principal));
        }
        const verdict = bucket.take();
        if (verdict !== 'ok') {
          const [limit, name] = hasRole(conn.principal, 'publisher') ? [config.publisherRateLimitPerSecond, 'PUBLISHER_RATE_LIMIT'] : [config.rateLimitPerSecond, 'RATE_LIMIT'];
          conn.sendJson({ op: 'error', code: 'rate_limited', message: `more than ${limit} frames/s (${name})` });
          if (verdict === 'close') conn.close(CloseCode.policy, 'rate limit exceeded');
          return;
        }
        if (isBinary) {
          conn.sendJson({ op: 'error', code: 'binary_unsupported', message: 'binary frames are not supported; send JSON or text lines as text frames' });
          return;
        }
        session.onText(data.toString());
      });
      socket.on('close', (code: number, reason: Buffer) => {
        hub.detach(conn);
        log.info(
          { conn: conn.id, mode, code, reason: reason.toString(), framesIn: conn.framesIn, framesOut: conn.outbox.stats.framesOut, dropped: conn.dropped },
          'connection closed',
        );
      });
      socket.on('error', (err) => log.debug({ conn: conn.id, err }, 'socket error'));
      session.start();
    };
  }

  return routes;
}
