/**
 * WebSocket routes: `/ws` (line or app mode) and `/ws/<patterns>` (taps). Everything that can
 * refuse a client — credentials, origin, per-IP limit, bad patterns — is checked before any
 * WebSocket exists (admission.ts, shared with the SSE route), so refusals are plain HTTP statuses.
 */
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { hasRole, type Authenticator, type Principal } from '../core/principal.ts';
import { AppSession, type SpendRate } from '../sessions/app.ts';
import { CloseCode, type Connection, type ConnectionMode } from '../core/connection.ts';
import { WsTransport } from '../core/transport.ts';
import type { AddressSlot } from '../core/address-slots.ts';
import type { Hub } from '../core/hub.ts';
import { LineSession } from '../sessions/line.ts';
import type { ChatService } from '../chat/chat.ts';
import { TokenBucket } from './rate-limit.ts';
import type { Session } from '../sessions/session.ts';
import { TapSession } from '../sessions/tap.ts';
import { APP_SUBPROTOCOL, type RequestId } from '../../protocol/wire.ts';
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
      socketOpener(c, mode, admitted.principal, (conn, spend) => (mode === 'app' ? new AppSession(hub, conn, auth, spend) : new LineSession(hub, chat, conn)), admitted.slot),
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

  const wiring: WsWiring = { hub, log, rateOf };

  /** Frames per second and burst for a principal. */
  function rateOf(p: Principal): [number, number] {
    return hasRole(p, 'publisher') ? [config.publisherRateLimitPerSecond, config.publisherRateLimitPerSecond] : [config.rateLimitPerSecond, config.rateLimitBurst];
  }

  /**
   * What to do with the socket once open. Only what the open needs is captured here; the long-lived
   * state is the connection's WsLink (nothing of the request or the route stays with an idle tap).
   */
  function socketOpener(c: Context<Env>, mode: ConnectionMode, principal: Principal, createSession: (conn: Connection, spend: SpendRate) => Session, slot: AddressSlot): (socket: WebSocket) => void {
    const { peer } = c.get('client');
    return (socket) => {
      const conn = hub.attach(new WsTransport(socket), mode, principal, slot);
      const link = new WsLink(wiring, conn);
      link.session = createSession(conn, (cost, id) => link.spend(cost, id));
      const { remote } = slot;
      log.info({ conn: conn.id, mode, role: principal.role, subject: principal.subject, remote, ...(peer !== remote && { peer }) }, 'connection open');
      (socket as LinkedSocket)[LINK] = link;
      socket.on('message', onLinkMessage);
      socket.on('close', onLinkClose);
      socket.on('error', onLinkError);
      link.session.start();
    };
  }

  return routes;
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
