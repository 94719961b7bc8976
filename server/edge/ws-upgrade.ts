/**
 * The WebSocket upgrade route: `/ws` (line or app mode) and `/ws/<patterns>` (taps) answered on
 * the raw node request and socket, from the server's `upgrade` event, ahead of @hono/node-server
 * (server.ts). node-server would build a Request with Headers and an AbortSignal for each upgrade
 * and run the app, only for the app to hand the socket back; in a reconnect storm that was most
 * of a handshake's cost. Here the checks the app's chain and the routes made are made with the
 * same pieces, in the same order, with the same answers byte for byte: the client behind
 * TRUSTED_PROXIES, the Host check, a tap's patterns and query (admission.ts), the admission
 * (draining, origin, the per-address slot before any await, credentials), then `ws` completes
 * the handshake and the plain WebSocket goes to the opener (ws-routes.ts). Nothing of
 * node-server's internals is used (before, the socket came through its waiter, found by the
 * description of a private symbol).
 *
 * The request is read as node-server's upgrade Request had it: the URL built the same way (so
 * the path Hono would route, the patterns it would decode and the query it would read are the
 * ones read here) and node's `req.headers` (the first of a repeated Host or Authorization).
 * A target or Host it could not have made a URL of (a backslash in the path, `Host: a@b`) is
 * refused 400 here: node-server threw on those and, as the upgrade guard listens too, answered
 * nothing until the guard's cut-off. Any other path is left to node-server and the app, which answer it as before
 * (upgrade-refusal.ts); no frame is missed, as `ws` emits the first one (a frame
 * pipelined behind the handshake included) no earlier than the next tick, after the opener has
 * listened.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { getPath, getQueryParam, tryDecodeURIComponent } from 'hono/utils/url';
import type { WebSocketServer } from 'ws';
import { ERROR_CODES, type ErrorCode } from '../../protocol/errors.ts';
import { APP_SUBPROTOCOL } from '../../protocol/wire.ts';
import type { Hub } from '../core/hub.ts';
import { isRefusal, streamRequest, type Admit, type AdmissionRequest, type Refusal } from './admission.ts';
import type { ClientResolver, ClientView } from './client-address.ts';
import { cookieToken, errorBody, tokenFrom } from './http-util.ts';
import { hostProblem } from './origin.ts';
import type { LogRefusal } from './refusals.ts';
import { jsonReplyHeaders } from './security-headers.ts';
import { writeUpgradeRefusal } from './upgrade-refusal.ts';
import type { SocketOpener, WsTarget } from './ws-routes.ts';

/** Takes the upgrade and returns true, or returns false and leaves it alone. */
export type UpgradeRoute = (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;

export interface WsUpgradeOptions {
  hub: Hub;
  wss: WebSocketServer;
  admit: Admit;
  open: SocketOpener;
  clients: ClientResolver;
  /** ALLOWED_HOSTS and PUBLIC_URL's host. */
  servedHosts: readonly string[];
  logRefusal: LogRefusal;
}

/** A tap's path: `/ws/` and its patterns (Hono's `/ws/:patterns{.+}`). */
const TAP_PATH = /^\/ws\/(.+)$/;

const ignoreSocketError = (): void => {};

/**
 * @example
 * const route = createWsUpgrade({ hub, wss, admit, open, clients, servedHosts, logRefusal });
 * server.on('upgrade', (req, socket, head) => route(req, socket, head) || nodeServerUpgrade(req, socket, head));
 */
export function createWsUpgrade(options: WsUpgradeOptions): UpgradeRoute {
  const { hub, wss, admit, open, clients, servedHosts, logRefusal } = options;
  const { config } = hub;
  const publicTls = config.publicUrl?.startsWith('https:') ?? false;
  const replyHeaders = { plain: jsonReplyHeaders(false), tls: jsonReplyHeaders(true) };

  /** Send a refusal as the app would have: the JSON body, the security headers (HSTS over TLS), and close. */
  function refuseTo(socket: Duplex, client: ClientView, refusal: Refusal): void {
    const headers = publicTls || client.proto === 'https' ? replyHeaders.tls : replyHeaders.plain;
    writeUpgradeRefusal(socket, ERROR_CODES[refusal.code], headers, Buffer.from(JSON.stringify(errorBody(refusal.code, refusal.message))));
  }

  /** Everything after the route is known: answers every outcome itself. */
  async function upgrade(req: IncomingMessage, socket: Socket, head: Buffer, url: string, path: string, tapParam: string | null): Promise<void> {
    const client = clients.of(req);
    const refuse = (refusal: Refusal) => refuseTo(socket, client, refusal);
    try {
      const host = headerOf(req, 'host');
      const wrongHost = hostProblem(host, client, servedHosts);
      if (wrongHost) return refuse(logged(client, path, 'forbidden', 'ALLOWED_HOSTS', wrongHost));
      let target: WsTarget;
      if (tapParam === null) target = offers(req, APP_SUBPROTOCOL) ? APP : LINE;
      else {
        const request = streamRequest(tapParam, url, config.maxSubscriptionsPerConnection);
        if (isRefusal(request)) return refuse(request);
        target = { mode: 'tap', ...request };
      }
      const admission: AdmissionRequest = {
        host,
        origin: headerOf(req, 'origin'),
        client,
        socket,
        token: () => tokenFrom(url.includes('?') ? (getQueryParam(url, 'token') as string | undefined) : undefined, headerOf(req, 'authorization'), () => cookieToken(headerOf(req, 'cookie'))),
        method: 'GET',
        path,
      };
      const admitted = await admit(admission);
      if (isRefusal(admitted)) return refuse(admitted);
      if (socket.destroyed) return; // the client left while its credential was verified; the slot went with the socket
      wss.handleUpgrade(req, socket, head, (ws) => {
        socket.off('error', ignoreSocketError);
        wss.emit('connection', ws, req); // the upgrade guard stops watching it
        open(ws, target, admitted, client.peer);
      });
    } catch (err) {
      hub.logError(err);
      refuse({ code: 'internal', message: 'internal error' });
    }
  }

  function logged(client: ClientView, path: string, code: ErrorCode, setting: string, message: string): Refusal {
    logRefusal({ client, method: 'GET', path }, code, setting, message);
    return { code, message };
  }

  /**
   * The route's path and a tap's decoded patterns, as Hono would route and decode them; null for
   * an upgrade to another protocol; 'unparsable' when node-server could not have built its URL;
   * `{ elsewhere }` for a WebSocket upgrade of any other path.
   */
  function routeOf(req: IncomingMessage): { url: string; path: string; tapParam: string | null } | { elsewhere: string } | 'unparsable' | null {
    // Other protocols: upgrade-guard.ts answers them. Any method: node-server's Request was a GET
    // whatever the request's, and `ws` refuses all but GET (405) once admitted.
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') return null;
    const url = upgradeUrl(req);
    if (url === null) return 'unparsable';
    const path = getPath({ url } as Request);
    if (path === '/ws') return { url, path, tapParam: null };
    const tap = TAP_PATH.exec(path);
    return tap ? { url, path, tapParam: tryDecodeURIComponent(tap[1]) } : { elsewhere: path };
  }

  return (req, socket, head) => {
    let route: ReturnType<typeof routeOf>;
    try {
      route = routeOf(req);
    } catch (err) {
      hub.logError(err);
      return false; // node-server and the app answer it, as any other path
    }
    if (!route) return false;
    socket.on('error', ignoreSocketError); // a reset mid-admission must not throw
    if (route === 'unparsable') {
      // node-server threw before the app saw it and, with another upgrade listener, answered nothing.
      refuseTo(socket, clients.of(req), { code: 'bad_request', message: 'the request target or the Host header is malformed' });
      return true;
    }
    if ('elsewhere' in route) {
      // Only these paths take WebSockets. Through node-server the app would answer an upgrade of
      // an HTTP route with its status and no body, and an SSE stream with a response appended.
      refuseTo(socket, clients.of(req), { code: 'not_found', message: `WebSocket upgrades are served on /ws and /ws/<patterns>, not on '${route.elsewhere.slice(0, 100)}'` });
      return true;
    }
    upgrade(req, socket as Socket, head, route.url, route.path, route.tapParam).catch((err) => hub.logError(err));
    return true;
  };
}

const APP: WsTarget = { mode: 'app' };
const LINE: WsTarget = { mode: 'line' };

/** A header as node-server's upgrade Request carried it: node's value (the first of an array), absent when empty. */
function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return (Array.isArray(value) ? value[0] : value) || undefined;
}

/** True if the client offers `protocol` in Sec-WebSocket-Protocol. */
const offers = (req: IncomingMessage, protocol: string): boolean => (headerOf(req, 'sec-websocket-protocol') ?? '').split(',').some((s) => s.trim() === protocol);

/** Targets and hosts node-server uses as they are; anything else it has the URL parser normalise. */
const PLAIN_TARGET = /^\/[!#$&-;=?-[\]_a-z~]*$/;
const DOT_SEGMENT = /\/\.\.?(?:[/?#]|$)/;
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/;

/**
 * The URL node-server's upgrade handler (`createUpgradeRequest`, @hono/node-server 2) gives the
 * app for this request, or null where it throws on the target or the Host.
 */
export function upgradeUrl(req: IncomingMessage): string | null {
  const target = req.url ?? '/';
  try {
    if (target[0] !== '/' && (target.startsWith('http://') || target.startsWith('https://'))) {
      checkBackslash(target);
      return new URL(target).href;
    }
    const scheme = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
    const host = req.headers.host ?? 'localhost';
    const url = `${scheme}://${host}${target}`;
    if (!PLAIN_HOST.test(host)) {
      checkBackslash(target);
      const parsed = new URL(url);
      const name = host.includes(':') ? host.replace(/:\d+$/, '') : host;
      if (parsed.hostname.length !== host.length && parsed.hostname !== name.toLowerCase()) return null;
      return parsed.href;
    }
    if (target.length === 0) return `${url}/`;
    if (target.charCodeAt(0) !== 47) return null;
    if (PLAIN_TARGET.test(target) && !DOT_SEGMENT.test(target)) return url;
    checkBackslash(target);
    return new URL(url).href;
  } catch {
    return null;
  }
}

/** node-server refuses a backslash in the path (not in the query). */
function checkBackslash(target: string): void {
  const backslash = target.indexOf('\\');
  if (backslash !== -1) {
    const query = target.indexOf('?');
    if (query === -1 || backslash < query) throw new Error('backslash in request path');
  }
}
