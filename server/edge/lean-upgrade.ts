/**
 * `upgradeWebSocket` from @hono/node-server, minus the per-connection baggage.
 *
 * node-server's helper keeps the context it is given reachable for as long as the socket lives
 * (its message and close handlers close over it). A full Hono context drags along the Request,
 * its Headers, the route's response object and the IncomingMessage: about 7 KB per idle
 * connection, half of tickhub's footprint. The helper reads only the Upgrade header, the URL and
 * `env`, so it gets exactly those; and once the socket is open the IncomingMessage is dropped
 * from `env` (nothing reads it after the handshake).
 */
import { upgradeWebSocket, type WebSocketLike } from '@hono/node-server';
import type { Context } from 'hono';
import type { WSEvents } from 'hono/ws';
import type { Env } from './http-util.ts';

export function leanUpgrade(c: Context<Env>, events: WSEvents<WebSocketLike>): Promise<Response> {
  const upgrade = c.req.header('upgrade');
  const url = c.req.url;
  const env: Partial<Env['Bindings']> = c.env;
  const handshakeOnly = { env, req: { url, header: (name: string) => (name.toLowerCase() === 'upgrade' ? upgrade : undefined) } };
  return upgradeWebSocket(handshakeOnly as unknown as Context<Env>, {
    ...events,
    onOpen(evt, ws) {
      env.incoming = undefined;
      events.onOpen?.(evt, ws);
    },
  });
}
