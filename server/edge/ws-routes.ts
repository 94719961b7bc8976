/**
 * WebSocket routes: `/ws` (line or app mode) and `/ws/<patterns>` (taps). Their upgrades are
 * answered on the raw node request, ahead of node-server (ws-upgrade.ts), which then hands the
 * open socket to the opener here. What is left for Hono is a plain GET to these paths (no
 * upgrade): a tap's bad patterns or query get the same 400 as its upgrade would, anything else
 * the 426 that says how to connect.
 */
import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { hasRole, type Authenticator, type Principal } from '../core/principal.ts';
import { AppSession } from '../sessions/app.ts';
import { CloseCode, type Connection, type ConnectionMode } from '../core/connection.ts';
import { WsTransport } from '../core/transport.ts';
import type { Hub, SubscribeOptions } from '../core/hub.ts';
import { LineSession } from '../sessions/line.ts';
import type { ChatService } from '../chat/chat.ts';
import { TokenBucket } from './rate-limit.ts';
import type { Session } from '../sessions/session.ts';
import { TapSession } from '../sessions/tap.ts';
import type { RequestId } from '../../protocol/wire.ts';
import { apiError, type Env } from './http-util.ts';
import { isRefusal, streamRequest, type Admission } from './admission.ts';

/** The Hono routes for plain GETs to the WebSocket paths. */
export function createWsRoutes(hub: Hub): Hono<Env> {
  const routes = new Hono<Env>();
  const notWebSocket = (host: string | undefined, what: string) => `this is a WebSocket endpoint: wscat -c ws://${host ?? 'host'}${what}\n`;
  routes.get('/ws', (c) => c.text(notWebSocket(c.req.header('host'), '/ws'), 426));
  routes.get('/ws/:patterns{.+}', (c) => {
    const request = streamRequest(c.req.param('patterns')!, c.req.url, hub.config.maxSubscriptionsPerConnection);
    if (isRefusal(request)) return apiError(c, request.code, request.message);
    return c.text(notWebSocket(c.req.header('host'), `/ws/${request.patterns.join(',')}`), 426);
  });
  return routes;
}

/** What a WebSocket is opened for: line or app mode (by its subprotocol), or a tap of patterns. */
export type WsTarget = { mode: 'line' | 'app' } | { mode: 'tap'; patterns: string[]; options: SubscribeOptions };

/** Wire an open WebSocket to the hub: its connection, link and session. `peer` is the socket peer (for the log). */
export type SocketOpener = (socket: WebSocket, target: WsTarget, admitted: Admission, peer: string) => void;

/**
 * The opener of every WebSocket. Only what the open needs is passed in; the long-lived state is
 * the connection's WsLink (nothing of the request or the route stays with an idle tap).
 */
export function createSocketOpener(hub: Hub, chat: ChatService, auth: Authenticator, log: Logger): SocketOpener {
  const { config } = hub;
  const wiring: WsWiring = { hub, log, rateOf };

  /** Frames per second and burst for a principal. */
  function rateOf(p: Principal): [number, number] {
    return hasRole(p, 'publisher') ? [config.publisherRateLimitPerSecond, config.publisherRateLimitPerSecond] : [config.rateLimitPerSecond, config.rateLimitBurst];
  }

  function sessionOf(target: WsTarget, conn: Connection, link: WsLink): Session {
    if (target.mode === 'tap') return new TapSession(hub, conn, target.patterns, target.options);
    return target.mode === 'app' ? new AppSession(hub, conn, auth, (cost, id) => link.spend(cost, id)) : new LineSession(hub, chat, conn);
  }

  return (socket, target, { principal, slot }, peer) => {
    const mode: ConnectionMode = target.mode;
    const conn = hub.attach(new WsTransport(socket), mode, principal, slot);
    const link = new WsLink(wiring, conn);
    link.session = sessionOf(target, conn, link);
    const { remote } = slot;
    log.info({ conn: conn.id, mode, role: principal.role, subject: principal.subject, remote, ...(peer !== remote && { peer }) }, 'connection open');
    (socket as LinkedSocket)[LINK] = link;
    socket.on('message', onLinkMessage);
    socket.on('close', onLinkClose);
    socket.on('error', onLinkError);
    link.session.start();
  };
}

/** What every WsLink shares: one object per route set, not per connection. */
interface WsWiring {
  hub: Hub;
  log: Logger;
  rateOf(p: Principal): [number, number];
}

const LINK = Symbol('tickhub.wsLink');
type LinkedSocket = WebSocket & { [LINK]: WsLink };

/**
 * One open WebSocket's wiring to the hub: its rate limit and its session. The socket's listeners
 * are shared functions that find it through the socket (LINK), so an idle connection holds one
 * small object here instead of a closure per event.
 */
class WsLink {
  session!: Session;
  /** One bucket for the connection's whole life, made at its first frame (taps never send): a new credential changes its rate, never refills it. */
  private bucket: TokenBucket | null = null;
  private bucketFor: Principal | null = null;

  constructor(
    private readonly wiring: WsWiring,
    readonly conn: Connection,
  ) {}

  /** One token per frame, and one per further message of a batch; refuses (and at the strike limit closes) over the rate. */
  spend(cost: number, id?: RequestId): boolean {
    const { conn } = this;
    const { config } = this.wiring.hub;
    if (!this.bucket) {
      this.bucketFor = conn.principal;
      this.bucket = new TokenBucket(...this.wiring.rateOf(conn.principal), config.rateLimitStrikes);
    } else if (this.bucketFor !== conn.principal) {
      this.bucketFor = conn.principal; // the auth op changed it
      this.bucket.retune(...this.wiring.rateOf(conn.principal));
    }
    const bucket = this.bucket;
    const verdict = bucket.take(cost);
    if (verdict === 'ok') return true;
    const [limit, name] = hasRole(conn.principal, 'publisher') ? [config.publisherRateLimitPerSecond, 'PUBLISHER_RATE_LIMIT'] : [config.rateLimitPerSecond, 'RATE_LIMIT'];
    // Only a batch (which has an id) spends more than the one token of its frame: cost + 1 messages.
    const message =
      cost > bucket.capacity
        ? `a batch of ${cost + 1} messages is more than the burst of ${bucket.capacity} (${name === 'RATE_LIMIT' ? 'RATE_BURST' : name}); send smaller batches`
        : `more than ${limit} ${id === undefined ? 'frames' : 'messages'}/s (${name})`;
    conn.sendJson({ op: 'error', ...(id !== undefined && { id }), code: 'rate_limited', message });
    if (verdict === 'close') conn.close(CloseCode.policy, 'rate limit exceeded');
    return false;
  }

  message(data: Buffer, isBinary: boolean): void {
    const { conn } = this;
    if (conn.closed) return;
    conn.alive = true;
    conn.framesIn++;
    if (!this.spend(1)) return;
    if (isBinary) {
      conn.sendJson({ op: 'error', code: 'binary_unsupported', message: 'binary frames are not supported; send JSON or text lines as text frames' });
      return;
    }
    this.session.onText(data.toString());
  }

  closed(code: number, reason: Buffer): void {
    const { conn } = this;
    this.wiring.hub.detach(conn);
    this.wiring.log.info(
      { conn: conn.id, mode: conn.mode, code, reason: reason.toString(), framesIn: conn.framesIn, framesOut: conn.outbox.stats.framesOut, dropped: conn.dropped },
      'connection closed',
    );
  }

  error(err: Error): void {
    this.wiring.log.debug({ conn: this.conn.id, err }, 'socket error');
  }
}

const linkOf = (socket: WebSocket): WsLink => (socket as LinkedSocket)[LINK];

function onLinkMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  linkOf(this).message(data, isBinary);
}

function onLinkClose(this: WebSocket, code: number, reason: Buffer): void {
  linkOf(this).closed(code, reason);
}

function onLinkError(this: WebSocket, err: Error): void {
  linkOf(this).error(err);
}
