/**
 * Bounds on raw sockets, enforced where they are accepted, before HTTP or WebSocket code sees
 * them: at most MAX_SOCKETS_PER_IP open sockets of any kind per address (idle TCP and half-sent
 * requests included) and MAX_SOCKETS in total (`server.maxConnections`), so no client can use up
 * the process's file descriptors. A trusted proxy's own sockets (TRUSTED_PROXIES) carry many
 * clients and are not counted per address; MAX_SOCKETS still bounds them. An accept error
 * (EMFILE, ENFILE) is logged, never fatal.
 */
import type { Server } from 'node:net';
import type { Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { guarded } from '../guard.ts';

export interface SocketLimits {
  maxSocketsPerIp: number;
  maxSockets: number;
}

/** A log line at most once per `intervalMs`; the lines left out are counted into the next one. */
export function rateLimitedLog(log: Pick<Logger, 'warn'>, intervalMs = 10_000): (fields: Record<string, unknown>, msg: string) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (fields, msg) => {
    const now = performance.now();
    if (now - last < intervalMs) {
      suppressed++;
      return;
    }
    log.warn({ ...fields, suppressed }, msg);
    last = now;
    suppressed = 0;
  };
}

/** The whole answer to a socket over its address's limit; no HTTP parsing needed to send it. */
function tooManyResponse(limit: number): string {
  const body = JSON.stringify({ error: { code: 'too_many_connections', message: `at most ${limit} open sockets per address (MAX_SOCKETS_PER_IP)` } });
  return `HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * Apply the socket bounds to `server` (call before it accepts). Counting happens synchronously
 * in the `connection` event, so parallel connects cannot overshoot.
 *
 * @example
 * limitSockets(server, { maxSocketsPerIp: 1000, maxSockets: 900 }, log, clients.trusts);
 */
export function limitSockets(server: Server, limits: SocketLimits, log: Logger, isTrustedProxy: (address: string) => boolean = () => false): void {
  const perIp = new Map<string, number>();
  const refused = tooManyResponse(limits.maxSocketsPerIp);
  const warnPerIp = rateLimitedLog(log);
  const warnDrop = rateLimitedLog(log);
  const warnAccept = rateLimitedLog(log);
  server.maxConnections = limits.maxSockets;
  const tls = server instanceof TlsServer;
  // One handler for every socket, not a closure each; the address is cached on the socket.
  function release(this: Socket): void {
    const remote = this.remoteAddress ?? 'unknown';
    const left = (perIp.get(remote) ?? 1) - 1;
    if (left > 0) perIp.set(remote, left);
    else perIp.delete(remote);
  }
  server.on(
    'connection',
    guarded(log, 'socket accept', (socket: Socket) => {
      const remote = socket.remoteAddress ?? 'unknown';
      if (isTrustedProxy(remote)) return;
      const open = (perIp.get(remote) ?? 0) + 1;
      perIp.set(remote, open);
      socket.on('close', release);
      if (open <= limits.maxSocketsPerIp) return;
      warnPerIp({ remote, limit: limits.maxSocketsPerIp }, 'socket refused: too many open sockets from this address (MAX_SOCKETS_PER_IP)');
      socket.on('error', () => {}); // the peer may reset first; nothing to do about it
      // Over the hub's own TLS the raw socket has not shaken hands yet: a plain-text 429 would be
      // noise to the client, so it is just closed. Otherwise destroy once written: a client that
      // never closes its side must not keep the descriptor.
      if (tls) socket.destroy();
      else socket.end(refused, () => socket.destroy());
    }),
  );
  server.on('drop', (info?: { remoteAddress?: string }) =>
    warnDrop({ remote: info?.remoteAddress, limit: limits.maxSockets }, 'socket dropped: MAX_SOCKETS open sockets reached'),
  );
  // Without a listener an accept error (EMFILE when descriptors run out) is thrown and kills the process.
  server.on('error', (err: NodeJS.ErrnoException) => warnAccept({ err: { code: err.code, message: err.message } }, 'server error; still serving'));
}
