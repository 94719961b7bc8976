/**
 * Refused upgrades carry their JSON error body, framed one way for both paths that refuse them:
 * the WebSocket upgrade route (ws-upgrade.ts) and, for every other path, the Hono app behind
 * @hono/node-server. node-server 2 answers an upgrade request that the app did not accept with
 * `rejectUpgradeRequest`, which writes only the status line, the headers and `Content-Length: 0`:
 * the body the route built never leaves the process. The middleware here writes the whole
 * response to the socket itself, first.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createMiddleware } from 'hono/factory';
import type { Env } from './http-util.ts';

/** Headers that describe the connection or the framing; ours replace them. */
const HOP_HEADERS = new Set(['connection', 'content-length', 'keep-alive', 'transfer-encoding', 'upgrade']);

/**
 * Write a refusal of an upgrade (`headers` as Headers iterates them: lower-case names, in name
 * order) with its body, and close the socket.
 */
export function writeUpgradeRefusal(socket: Duplex, status: number, headers: Iterable<readonly [string, string]>, body: Buffer): void {
  if (socket.destroyed) return;
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`];
  for (const [key, value] of headers) if (!HOP_HEADERS.has(key)) lines.push(`${key}: ${value}`);
  lines.push('Connection: close', `Content-Length: ${body.length}`);
  socket.end(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), body]));
}

/**
 * Middleware (register first): for an upgrade request that reached the app (any path but the
 * WebSocket routes', which ws-upgrade.ts answers), send the response with its body and close.
 *
 * @example
 * app.use('*', upgradeRefusals());
 */
export const upgradeRefusals = () =>
  createMiddleware<Env>(async (c, next) => {
    await next();
    // `upgrade` is set only on requests node-server received through the server's 'upgrade' event.
    if (!(c.env.incoming as (IncomingMessage & { upgrade?: boolean }) | undefined)?.upgrade) return;
    const socket = c.env.incoming.socket;
    const body = Buffer.from(await c.res.arrayBuffer());
    writeUpgradeRefusal(socket, c.res.status, c.res.headers, body);
    silenceSecondEnd(socket);
  });

/** node-server may follow with its own bodiless refusal; ours is on the wire, so that end() is a no-op. */
function silenceSecondEnd(socket: Duplex): void {
  socket.end = (() => socket) as Duplex['end'];
}
