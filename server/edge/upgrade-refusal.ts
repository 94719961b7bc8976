/**
 * Refused upgrades carry their JSON error body. @hono/node-server 2 answers an upgrade request
 * that the app did not accept with `rejectUpgradeRequest`, which writes only the status line,
 * the headers and `Content-Length: 0`: the body the route built (`apiError`) never leaves the
 * process. This middleware writes the whole response to the socket itself, first.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { createMiddleware } from 'hono/factory';
import { isHandshake } from './lean-upgrade.ts';
import type { Env } from './http-util.ts';

/** Headers that describe the connection or the framing; ours replace them. */
const HOP_HEADERS = new Set(['connection', 'content-length', 'keep-alive', 'transfer-encoding', 'upgrade']);

/**
 * Middleware (register first): for an upgrade request answered with anything but a handshake,
 * send that response with its body and close.
 *
 * @example
 * app.use('*', upgradeRefusals());
 */
export const upgradeRefusals = () =>
  createMiddleware<Env>(async (c, next) => {
    await next();
    // `upgrade` is set only on requests node-server received through the server's 'upgrade' event.
    if (isHandshake(c.res) || !(c.env.incoming as (IncomingMessage & { upgrade?: boolean }) | undefined)?.upgrade) return;
    const socket = c.env.incoming.socket;
    const body = Buffer.from(await c.res.arrayBuffer());
    if (socket.destroyed) return;
    const lines = [`HTTP/1.1 ${c.res.status} ${STATUS_CODES[c.res.status] ?? ''}`];
    c.res.headers.forEach((value, key) => {
      if (!HOP_HEADERS.has(key)) lines.push(`${key}: ${value}`);
    });
    lines.push('Connection: close', `Content-Length: ${body.length}`);
    socket.end(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), body]));
    silenceSecondEnd(socket);
  });

/** node-server follows with its own bodiless refusal; ours is on the wire, so that end() is a no-op. */
function silenceSecondEnd(socket: Socket): void {
  socket.end = (() => socket) as Socket['end'];
}
