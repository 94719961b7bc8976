/**
 * Sockets handed over through the server's `upgrade` event leave Node's HTTP timeouts behind.
 * A request asking to upgrade to anything but a WebSocket (`h2c`, ...) would otherwise get no
 * answer at all and hold its socket until the client leaves; and any upgrade that never
 * completes (the app threw before answering) must not hold one for ever either. One sweep timer
 * watches every pending upgrade: nothing is left on a socket once its handshake is done.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { WebSocketServer } from 'ws';
import { guarded } from '../guard.ts';

function notWebSocket(upgrade: string): string {
  const body = JSON.stringify({ error: { code: 'bad_request', message: `only WebSocket upgrades are served (asked for '${upgrade.slice(0, 40)}'); send the request without Upgrade (curl: --http1.1 instead of --http2)` } });
  return `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * Answer non-WebSocket upgrades with 400 and close; destroy any upgrade socket that `wss` has
 * not taken as a WebSocket within `timeoutMs`. Returns a function that stops the sweep.
 *
 * @example
 * const stop = guardUpgrades(server, wss, config.requestTimeoutMs, log);
 */
export function guardUpgrades(server: Server, wss: WebSocketServer, timeoutMs: number, log: Logger): () => void {
  /** Upgrade sockets not yet handed to a WebSocket, with when they arrived. */
  const pending = new Map<Socket, number>();
  wss.on('connection', (_ws, request: IncomingMessage) => pending.delete(request.socket));
  server.prependListener(
    'upgrade',
    guarded(log, 'upgrade guard', (request: IncomingMessage, socket: Socket) => {
      const upgrade = request.headers.upgrade ?? '';
      if (upgrade.toLowerCase() === 'websocket') return void pending.set(socket, performance.now());
      socket.on('error', () => {});
      socket.end(notWebSocket(upgrade), () => socket.destroy());
    }),
  );
  const sweep = setInterval(
    guarded(log, 'upgrade sweep', () => {
      const cutoff = performance.now() - timeoutMs;
      for (const [socket, since] of pending) {
        if (socket.destroyed) pending.delete(socket);
        else if (since < cutoff) {
          pending.delete(socket);
          socket.destroy();
        }
      }
    }),
    Math.max(25, Math.min(1000, timeoutMs / 4)),
  );
  sweep.unref();
  return () => clearInterval(sweep);
}
