/**
 * Accepting a WebSocket upgrade without @hono/node-server's `upgradeWebSocket` helper.
 *
 * node-server's `upgrade` handler runs the app for each upgrade request and completes the
 * handshake when, during that request, someone waited for its WebSocket: the waiter is a
 * function node-server puts on `env` (under its WAIT_FOR_WEBSOCKET_SYMBOL). Its helper waits
 * through it and then wraps the socket in a context that lives as long as the connection: a
 * DOM-like object with a getter and a URL, seven closures, a `message` listener added and deleted
 * (which turns the socket's listener table into a dictionary) and a second listener on each event,
 * about 1.8 KB per idle connection (measured: bench/idle-heap.ts). Waiting for the socket here
 * keeps none of it: the caller gets the plain `ws` WebSocket and listens to it directly (which
 * also skips the helper's per-frame copy, decode and MessageEvent). The waiter is found by the
 * symbol's description, so a node-server that renames it fails every upgrade loudly (500 and an
 * error log; test/server/edge tests open WebSockets), never silently.
 *
 * No frame is missed: node-server resolves the waiter in the same turn as `ws` takes the socket,
 * `onOpen` runs in the next microtask, and `ws` emits the first frame no earlier than the next
 * tick (a frame pipelined behind the handshake included; test/server/edge/socket-fuzz.test.ts
 * sends one).
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { WebSocket } from 'ws';
import type { Env } from './http-util.ts';

/** node-server's waiter: resolves with the request's WebSocket once the handshake is done, rejects if it is aborted. */
type WaitForWebSocket = (request: IncomingMessage, connectionSymbol: symbol | undefined) => Promise<WebSocket>;

const WAIT_DESCRIPTION = 'WAIT_FOR_WEBSOCKET_SYMBOL';
let waitSymbol: symbol | undefined;

/** node-server's waiter on this request's env, or undefined (not an upgrade through node-server). */
function waiterOf(env: object): WaitForWebSocket | undefined {
  waitSymbol ??= Object.getOwnPropertySymbols(env).find((s) => s.description === WAIT_DESCRIPTION);
  return waitSymbol && (env as Record<symbol, WaitForWebSocket | undefined>)[waitSymbol];
}

/** Responses that accepted a handshake; every other answer to an upgrade request is a refusal. */
const handshakes = new WeakSet<Response>();

/** True if `res` is leanUpgrade's answer, i.e. node-server goes on to send 101. */
export const isHandshake = (res: Response): boolean => handshakes.has(res);

/** The handshake aborted (the client left first): nothing was opened, nothing to undo here. */
const ignoreAbort = (): void => {};

/** node-server's helper logged what `onOpen` threw the same way. */
const reportOpenError = (err: unknown): void => console.error(err);

/**
 * Accept the upgrade: node-server answers 101 and `onOpen` gets the open socket. Call only for an
 * upgrade request (the routes check the Upgrade header first).
 */
export function leanUpgrade(c: Context<Env>, onOpen: (socket: WebSocket) => void): Response {
  const env = c.env;
  const wait = waiterOf(env);
  const incoming = env.incoming;
  if (!wait || !incoming) throw new Error(`leanUpgrade: no WebSocket waiter from @hono/node-server on this request (${WAIT_DESCRIPTION} not found)`);
  // No connection symbol: node-server compares the waiter's with the one on env, and both are unset.
  wait(incoming, undefined).then(onOpen, ignoreAbort).catch(reportOpenError);
  const res = new Response();
  handshakes.add(res);
  return res;
}
