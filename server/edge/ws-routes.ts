/**
 * WebSocket routes: `/ws` (line or app mode) and `/ws/<patterns>` (taps). Everything that can
 * refuse a client — credentials, origin, per-IP limit, bad patterns — is checked here, before any
 * WebSocket exists, so refusals are plain HTTP statuses.
 */
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { hasRole, type Authenticator, type Principal } from '../core/principal.ts';
import { AppSession } from '../sessions/app.ts';
import { CloseCode, type Connection, type ConnectionMode } from '../core/connection.ts';
import { WsTransport } from '../core/transport.ts';
import type { Socket } from 'node:net';
import type { AddressSlot } from '../core/address-slots.ts';
import type { Hub } from '../core/hub.ts';
import { LineSession } from '../sessions/line.ts';
import type { ChatService } from '../chat/chat.ts';
import { TokenBucket } from './rate-limit.ts';
import type { Session } from '../sessions/session.ts';
import { TapSession } from '../sessions/tap.ts';
import { topicError } from '../../protocol/topics.ts';
import { APP_SUBPROTOCOL } from '../../protocol/wire.ts';
import { leanUpgrade } from './lean-upgrade.ts';
import { originAllowed, originProblem, ownOrigins } from './origin.ts';
import { apiError, remoteOf, tokenOf, type Env } from './http-util.ts';
import { parseTapQuery } from './tap-query.ts';
import { credentialSetting, type Refuse } from './refusals.ts';

interface Admission {
  principal: Principal;
  slot: AddressSlot;
}

/** The WebSocket routes; `refuse` sends and logs admission refusals. */
export function createWsRoutes(hub: Hub, chat: ChatService, auth: Authenticator, log: Logger, refuse: Refuse): Hono<Env> {
  const { config } = hub;
  const routes = new Hono<Env>();

  /**
   * Checks shared by every upgrade; returns the caller and its reserved per-address slot, or the
   * refusal to send. The slot is taken before the first await, so parallel upgrades cannot all
   * pass the limit while their credentials are being verified; it is released if the upgrade is
   * refused or the socket closes before it opens, and taken over by the connection at attach.
   */
  async function admit(c: Context<Env>, what: string): Promise<Admission | Response> {
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      return c.text(`this is a WebSocket endpoint: wscat -c ws://${c.req.header('host') ?? 'host'}${what}\n`, 426);
    }
    if (hub.draining) return apiError(c, 'unavailable', 'this node is draining for a restart; connect to another node');
    const origin = c.req.header('origin');
    if (origin !== undefined) {
      const own = ownOrigins(c.req.header('host'), c.get('client'), config.publicUrl);
      if (!originAllowed(origin, own, config.allowedOrigins)) return refuse(c, 'forbidden', 'ALLOWED_ORIGINS', originProblem(origin, own));
    }
    const socket = c.env.incoming.socket;
    const slot = socket.destroyed ? null : hub.reserveConnection(remoteOf(c));
    if (!slot) {
      return refuse(c, 'too_many_connections', 'MAX_CONNECTIONS_PER_IP', `at most ${config.maxConnectionsPerIp} connections per address (MAX_CONNECTIONS_PER_IP)`);
    }
    holdUntilClose(socket, slot);
    const token = tokenOf(c);
    const result = await auth.authenticate(token);
    if (!result.ok) {
      slot.release();
      return refuse(c, 'unauthorized', credentialSetting(token), result.reason);
    }
    return { principal: result.principal, slot };
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
    const patterns = c.req.param('patterns').split(',').map((p) => p.trim()).filter(Boolean);
    for (const p of patterns) {
      const problem = topicError(p, true);
      if (problem) return apiError(c, 'bad_topic', `${p}: ${problem}`);
    }
    if (patterns.length > config.maxSubscriptionsPerConnection) {
      return apiError(c, 'too_many_subscriptions', `at most ${config.maxSubscriptionsPerConnection} patterns (MAX_SUBSCRIPTIONS)`);
    }
    const options = parseTapQuery(new URL(c.req.url).searchParams, patterns);
    if (typeof options === 'string') return apiError(c, 'bad_request', options);
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

const SLOT = Symbol('tickhub.slot');

/** Release `slot` when the raw socket closes (an upgrade that never opened); one shared handler. */
function holdUntilClose(socket: Socket, slot: AddressSlot): void {
  (socket as Socket & { [SLOT]?: AddressSlot })[SLOT] = slot;
  socket.on('close', releaseHeldSlot);
}

function releaseHeldSlot(this: Socket & { [SLOT]?: AddressSlot }): void {
  this[SLOT]?.release();
}
