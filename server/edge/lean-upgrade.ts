/**
 * `upgradeWebSocket` from @hono/node-server, minus the per-connection and per-message baggage.
 *
 * node-server does the handshake; the open socket is then handed to `onOpen` as a plain `ws`
 * WebSocket, whose events the caller listens to directly. Two costs of the stock helper go away:
 * - Memory: its handlers close over the context they are given for the socket's whole life. A
 *   full Hono context drags along the Request, its Headers, the route's response and the
 *   IncomingMessage, about 7 KB per idle connection (half of tickhub's footprint). The helper
 *   reads only the Upgrade header, the URL and `env`, so it gets exactly those, and the
 *   IncomingMessage is dropped from `env` once the socket is open.
 * - CPU: for every inbound frame it copies the Buffer, decodes it and builds a DOM MessageEvent.
 *   Listening on the `ws` socket gets the Buffer as received.
 * No frame is missed: node-server calls `onOpen` in the microtask that receives the socket, and
 * `ws` emits the first frame no earlier than the next tick (a frame pipelined behind the
 * handshake included; test/integration/socket-fuzz.test.ts sends one).
 */
import { upgradeWebSocket } from '@hono/node-server';
import type { Context } from 'hono';
import type { WebSocket } from 'ws';
import type { Env } from './http-util.ts';

/** Responses that accepted a handshake; every other answer to an upgrade request is a refusal. */
const handshakes = new WeakSet<Response>();

/** True if `res` is leanUpgrade's answer, i.e. node-server goes on to send 101. */
export const isHandshake = (res: Response): boolean => handshakes.has(res);

export async function leanUpgrade(c: Context<Env>, onOpen: (socket: WebSocket) => void): Promise<Response> {
  const upgrade = c.req.header('upgrade');
  const env: Partial<Env['Bindings']> = c.env;
  const handshake: { env?: typeof env; req?: { url: string; header(name: string): string | undefined } } = {
    env,
    req: { url: c.req.url, header: (name) => (name.toLowerCase() === 'upgrade' ? upgrade : undefined) },
  };
  let open: typeof onOpen | null = onOpen;
  const res = await upgradeWebSocket(handshake as unknown as Context<Env>, {
    onOpen(_evt, ws) {
      // node-server is done with the handshake but keeps these objects as long as the socket.
      env.incoming = undefined;
      handshake.env = handshake.req = undefined;
      const opened = open!;
      open = null;
      opened(ws.raw as unknown as WebSocket); // the published type of `raw` is a stub
    },
  });
  handshakes.add(res);
  return res;
}
