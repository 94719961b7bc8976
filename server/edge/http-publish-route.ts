/**
 * The lean path for HTTP publishing: `POST /api/publish[/<topic>]` answered on the raw node
 * request, before node-server builds a Request, Headers and an AbortSignal and before Hono runs
 * its middleware chain, none of which a publish needs. What the chain does for these routes is
 * done here with the same pieces: the client behind TRUSTED_PROXIES, the Host check, the
 * security headers, and http-publish.ts for everything the API decides.
 *
 * It takes only what it can answer exactly as the Hono path would; anything unusual (a path
 * node-server would normalise or Hono would decode, a Host that needs parsing or is refused,
 * another method) is left to Hono, whose publish routes call the same http-publish.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERROR_CODES } from '../../protocol/errors.ts';
import type { ClientResolver } from './client-address.ts';
import { errorBody } from './http-util.ts';
import type { HttpPublish, PublishReply } from './http-publish.ts';
import { hostProblem } from './origin.ts';
import { drainRequest, headerOf } from './raw-request.ts';
import { jsonReplyHeaders, sortedPairs } from './security-headers.ts';
import { getQueryParam } from 'hono/utils/url';

/** Handles the request and returns true, or returns false and leaves it alone. */
export type RawRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * Targets node-server passes through untouched (its own test) and Hono routes undecoded: no
 * `%`, no backslash, no dot segment. Group 1 is the topic, if any; the query follows.
 */
const PUBLISH_TARGET = /^\/api\/publish(?:\/([!$&-.0-;=@-[\]_a-z~]+))?(?:\?[!#$&-;=?-[\]_a-z~]*)?$/;
const DOT_SEGMENT = /\/\.\.?(?:[/?#]|$)/;
/** Host headers node-server uses as they are (anything else it parses, and may refuse). */
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/;

export interface PublishRouteOptions {
  clients: ClientResolver;
  /** ALLOWED_HOSTS and PUBLIC_URL's host. */
  servedHosts: readonly string[];
  /** PUBLIC_URL is https: HSTS on every response. */
  publicTls: boolean;
  /** An unexpected error (answered 500 `internal`). */
  onInternal(err: unknown): void;
}

/**
 * @example
 * const route = createPublishRoute(publish, { clients, servedHosts, publicTls, onInternal });
 * createServer((req, res) => route(req, res) || honoListener(req, res));
 */
export function createPublishRoute(publish: HttpPublish, options: PublishRouteOptions): RawRoute {
  const { clients, servedHosts, publicTls, onInternal } = options;
  const plainPairs = jsonReplyHeaders(false);
  const tlsPairs = jsonReplyHeaders(true);
  const plainHeaders = plainPairs.flat();
  const tlsHeaders = tlsPairs.flat();
  const internal: PublishReply = { status: ERROR_CODES.internal, body: JSON.stringify(errorBody('internal', 'internal error')) };

  return (req, res) => {
    const url = req.url ?? '';
    if (req.method !== 'POST' || !url.startsWith('/api/publish')) return false;
    const target = PUBLISH_TARGET.exec(url);
    const host = headerOf(req, 'host');
    if (!target || DOT_SEGMENT.test(url) || host === undefined || !PLAIN_HOST.test(host)) return false;
    const client = clients.of(req);
    if (hostProblem(host, client, servedHosts)) return false; // Hono refuses it, and logs
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const tls = publicTls || client.proto === 'https';
    const headers = tls ? tlsHeaders : plainHeaders;
    const send = (reply: PublishReply) => {
      const list = reply.retryAfter === undefined ? headers : sortedPairs([...(tls ? tlsPairs : plainPairs), ['retry-after', String(reply.retryAfter)]]).flat();
      res.writeHead(reply.status, [...list, 'Content-Length', String(Buffer.byteLength(reply.body))]);
      res.end(reply.body);
      if (!req.readableEnded) res.once('finish', () => drainRequest(req));
    };
    const fail = (err: unknown) => {
      if (res.headersSent || res.destroyed) return; // the client left mid-body: nobody to answer
      onInternal(err);
      send(internal);
    };
    const queryToken = query === -1 ? undefined : (getQueryParam(url, 'token') as string | undefined);
    let reply: ReturnType<HttpPublish>;
    try {
      reply = publish({ incoming: req, client, path, topic: target[1] ?? null, queryToken });
    } catch (err) {
      fail(err);
      return true;
    }
    if (reply instanceof Promise) reply.then(send, fail);
    else send(reply); // a refusal, decided before the body
    return true;
  };
}
