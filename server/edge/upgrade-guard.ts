/**
 * Sockets handed over through the server's `upgrade` event leave Node's HTTP timeouts behind.
 * A request asking to upgrade to anything but a WebSocket (`h2c`, ...) would otherwise get no
 * answer at all and hold its socket until the client leaves; and any upgrade that never
 * completes (the app threw before answering) must not hold one for ever either.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { guarded } from '../guard.ts';
import type { Logger } from 'pino';

function notWebSocket(upgrade: string): string {
  const body = JSON.stringify({ error: { code: 'bad_request', message: `only WebSocket upgrades are served (asked for '${upgrade.slice(0, 40)}')` } });
  return `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

function destroyOnTimeout(this: Socket): void {
  this.destroy();
}

/**
 * Answer non-WebSocket upgrades with 400 and close; cut off any upgrade socket not handed to a
 * WebSocket within `timeoutMs` (`ws` clears the timeout when the handshake completes).
 *
 * @example
 * guardUpgrades(server, config.requestTimeoutMs, log);
 */
export function guardUpgrades(server: Server, timeoutMs: number, log: Logger): void {
  server.prependListener(
    'upgrade',
    guarded(log, 'upgrade guard', (request: IncomingMessage, socket: Socket) => {
      socket.setTimeout(timeoutMs, destroyOnTimeout); // shared, not a closure per socket
      const upgrade = request.headers.upgrade ?? '';
      if (upgrade.toLowerCase() === 'websocket') return;
      socket.on('error', () => {});
      socket.end(notWebSocket(upgrade), () => socket.destroy());
    }),
  );
}
