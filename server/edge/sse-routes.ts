/**
 * `GET /sse/<pattern>[,<pattern>]`: Server-Sent Events for clients without WebSockets (proxies
 * that strip `Upgrade`, `curl -N`, EventSource). Same patterns, query, credentials, origin rule,
 * per-address slots and refusals as a tap (admission.ts, shared with ws-upgrade.ts), plus `Last-Event-ID` (or `?lastEventId=`;
 * the header wins) to resume. The response head is written here and the raw socket is handed to
 * the hub (sse-transport.ts); the route answers node-server with RESPONSE_ALREADY_SENT, so it
 * writes nothing more. Messages go out as shared Buffers through the same outbox,
 * overflow policies and heartbeat as WebSocket frames.
 */
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import type { Hub } from '../core/hub.ts';
import type { Authenticator } from '../core/principal.ts';
import { SseTransport } from '../core/sse-transport.ts';
import { chunk, parseSseId } from '../core/sse-frame.ts';
import { SseSession } from '../sessions/sse.ts';
import { isRefusal, streamRequest, takeOver, type Admit, type AdmissionRequest } from './admission.ts';
import { apiError, overTls, tokenOf, type Env } from './http-util.ts';
import { HSTS } from './security-headers.ts';

/** The reconnect delay the stream asks EventSource for (its `retry:` field). */
export const SSE_RETRY_MS = 1000;

const HEAD = [
  'HTTP/1.1 200 OK',
  'Content-Type: text/event-stream; charset=utf-8',
  'Cache-Control: no-cache, no-transform',
  'X-Accel-Buffering: no', // nginx: pass each event on at once, whatever proxy_buffering says
  'X-Content-Type-Options: nosniff',
  'Transfer-Encoding: chunked', // why chunked: sse-transport.ts
  'Connection: close', // the stream is the connection's last response
].join('\r\n');

/** The head and the first event (`retry:`), one write; over TLS with HSTS, as every other response. */
const opening = (head: string) => Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), chunk(`retry: ${SSE_RETRY_MS}\n\n`)]);
const OPENING = opening(HEAD);
const OPENING_TLS = opening(`${HEAD}\r\nStrict-Transport-Security: ${HSTS}`);


/** The SSE route; `admit` is the admission shared with the WebSocket upgrade route. */
export function createSseRoutes(hub: Hub, admit: Admit, log: Logger): Hono<Env> {
  const { config } = hub;
  const routes = new Hono<Env>();

  routes.get('/sse/:patterns{.+}', async (c): Promise<Response> => {
    const request = streamRequest(c.req.param('patterns')!, c.req.url, config.maxSubscriptionsPerConnection);
    if (isRefusal(request)) return apiError(c, request.code, request.message);
    const lastId = c.req.header('last-event-id') ?? c.req.query('lastEventId');
    const resume = lastId === undefined || lastId.trim() === '' ? null : parseSseId(lastId);
    if (lastId !== undefined && lastId.trim() !== '' && !resume) {
      return apiError(c, 'bad_request', `Last-Event-ID '${lastId.slice(0, 80)}' is not <epoch>:<pos> (an id this hub sent)`);
    }
    const incoming = c.env.incoming;
    if (incoming.httpVersion !== '1.1') {
      return apiError(c, 'bad_request', `an SSE stream needs HTTP/1.1 (a chunked body), got HTTP/${incoming.httpVersion}; behind nginx set proxy_http_version 1.1`);
    }
    if (c.req.method === 'HEAD') return c.body(null, 200, { 'content-type': 'text/event-stream; charset=utf-8' });
    const admitted = await admit(admissionOf(c));
    if (isRefusal(admitted)) return apiError(c, admitted.code, admitted.message);
    const { principal, slot } = admitted;
    const socket = incoming.socket;
    if (socket.destroyed) {
      slot.release();
      return RESPONSE_ALREADY_SENT;
    }
    takeOver(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, config.heartbeatMs); // a peer that vanished without a RST
    socket.write(overTls(c, config.publicUrl) ? OPENING_TLS : OPENING);
    const transport = new SseTransport(socket);
    const conn = hub.attach(transport, 'sse', principal, slot);
    const { peer } = c.get('client');
    log.info({ conn: conn.id, mode: 'sse', role: principal.role, subject: principal.subject, remote: slot.remote, ...(peer !== slot.remote && { peer }) }, 'connection open');
    socket.once('close', () => {
      hub.detach(conn);
      log.info({ conn: conn.id, mode: 'sse', framesOut: conn.outbox.stats.framesOut, dropped: conn.dropped }, 'connection closed');
    });
    socket.on('error', (err) => log.debug({ conn: conn.id, err }, 'socket error'));
    new SseSession(hub, conn, transport, request.patterns, request.options, resume).start();
    return RESPONSE_ALREADY_SENT;
  });

  return routes;
}

/** What admission reads of a Hono request. */
const admissionOf = (c: Context<Env>): AdmissionRequest => ({
  host: c.req.header('host'),
  origin: c.req.header('origin'),
  client: c.get('client'),
  socket: c.env.incoming.socket,
  token: () => tokenOf(c),
  method: c.req.method,
  path: c.req.path,
});
