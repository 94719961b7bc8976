/**
 * Admission of a long-lived client, shared by the WebSocket routes and the SSE route: draining,
 * origin, the per-address slot and credentials are checked in one place, before any connection
 * exists, so refusals are plain HTTP statuses with JSON bodies, logged (refusals.ts). Also the
 * patterns and query of a stream URL (`/ws/<patterns>`, `/sse/<patterns>`), parsed once for both.
 */
import type { Socket } from 'node:net';
import type { Context } from 'hono';
import type { AddressSlot } from '../core/address-slots.ts';
import type { Hub, SubscribeOptions } from '../core/hub.ts';
import type { Authenticator, Principal } from '../core/principal.ts';
import { topicError } from '../../protocol/topics.ts';
import { apiError, remoteOf, tokenOf, type Env } from './http-util.ts';
import { originAllowed, originProblem, ownOrigins } from './origin.ts';
import { credentialSetting, type Refuse } from './refusals.ts';
import { parseTapQuery } from './tap-query.ts';

export interface Admission {
  principal: Principal;
  /** One of MAX_CONNECTIONS_PER_IP, held until the connection (or the refused socket) goes. */
  slot: AddressSlot;
}

/** Admit the request's client, or the refusal to send. */
export type Admit = (c: Context<Env>) => Promise<Admission | Response>;

/**
 * The slot is taken before the first await, so parallel requests cannot all pass the limit while
 * their credentials are being verified; it is released if the request is refused or its socket
 * closes first, and taken over by the connection at attach.
 *
 * @example
 * const admit = createAdmission(hub, auth, refuse);
 * const admitted = await admit(c);
 * if (admitted instanceof Response) return admitted;
 */
export function createAdmission(hub: Hub, auth: Authenticator, refuse: Refuse): Admit {
  const { config } = hub;
  return async (c) => {
    if (hub.draining) return apiError(c, 'unavailable', 'this node is draining for a restart; connect to another node');
    const origin = c.req.header('origin');
    if (origin !== undefined) {
      const own = ownOrigins(c.req.header('host'), c.get('client'), config.publicUrl);
      if (!originAllowed(origin, own, config.allowedOrigins)) return refuse(c, 'forbidden', 'ALLOWED_ORIGINS', originProblem(origin, own));
    }
    const socket = c.env.incoming.socket;
    // A request pipelined behind an SSE stream on its own socket would write into that stream.
    if (carriesStream(socket)) return apiError(c, 'bad_request', 'this connection already carries an SSE stream; open another connection');
    const slot = socket.destroyed ? null : hub.reserveConnection(remoteOf(c));
    if (!slot) {
      return refuse(c, 'too_many_connections', 'MAX_CONNECTIONS_PER_IP', `at most ${config.maxConnectionsPerIp} connections per address (MAX_CONNECTIONS_PER_IP)`);
    }
    holdUntilClose(socket, slot);
    const token = tokenOf(c);
    const result = await auth.authenticate(token);
    if (!result.ok) {
      slot.release();
      return refuse(c, 'unauthorized', credentialSetting(token), result.reason);
    }
    return { principal: result.principal, slot };
  };
}

export interface StreamRequest {
  patterns: string[];
  options: SubscribeOptions;
}

/** The patterns of a `/ws/<patterns>` or `/sse/<patterns>` URL and its query, or the 400 to send. */
export function streamRequest(c: Context<Env>, maxSubscriptions: number): StreamRequest | Response {
  const patterns = c.req.param('patterns')!.split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of patterns) {
    const problem = topicError(p, true);
    if (problem) return apiError(c, 'bad_topic', `${p}: ${problem}`);
  }
  if (patterns.length > maxSubscriptions) return apiError(c, 'too_many_subscriptions', `at most ${maxSubscriptions} patterns (MAX_SUBSCRIPTIONS)`);
  const options = parseTapQuery(new URL(c.req.url).searchParams, patterns);
  if (typeof options === 'string') return apiError(c, 'bad_request', options);
  return { patterns, options };
}

const STREAM = Symbol('tickhub.stream');

/** Mark `socket` as taken over by an SSE stream (sse-routes.ts): no further request may use it. */
export function takeOver(socket: Socket): void {
  (socket as Socket & { [STREAM]?: true })[STREAM] = true;
}

const carriesStream = (socket: Socket): boolean => (socket as Socket & { [STREAM]?: true })[STREAM] === true;

const SLOT = Symbol('tickhub.slot');

/** Release `slot` when the raw socket closes (a connection that never opened); one shared handler. */
function holdUntilClose(socket: Socket, slot: AddressSlot): void {
  (socket as Socket & { [SLOT]?: AddressSlot })[SLOT] = slot;
  socket.on('close', releaseHeldSlot);
}

function releaseHeldSlot(this: Socket & { [SLOT]?: AddressSlot }): void {
  this[SLOT]?.release();
}
