/**
 * Admission of a long-lived client, shared by the WebSocket upgrade route (ws-upgrade.ts, on the
 * raw node request) and the SSE route (Hono): draining, origin, the per-address slot and
 * credentials are checked in one place, before any connection exists, so refusals are plain
 * HTTP statuses with JSON bodies, logged (refusals.ts). Also the patterns and query of a stream
 * URL (`/ws/<patterns>`, `/sse/<patterns>`), parsed once for both. Neither takes a Hono Context:
 * each path hands over what it read of its request (AdmissionRequest) and sends the Refusal itself.
 */
import type { Socket } from 'node:net';
import type { ErrorCode } from '../../protocol/errors.ts';
import type { AddressSlot } from '../core/address-slots.ts';
import type { Hub, SubscribeOptions } from '../core/hub.ts';
import type { Authenticator, Principal } from '../core/principal.ts';
import { topicError } from '../../protocol/topics.ts';
import type { ClientView } from './client-address.ts';
import { originAllowed, originProblem, ownOrigins } from './origin.ts';
import { credentialSetting, type LogRefusal } from './refusals.ts';
import { parseTapQuery } from './tap-query.ts';

export interface Admission {
  principal: Principal;
  /** One of MAX_CONNECTIONS_PER_IP, held until the connection (or the refused socket) goes. */
  slot: AddressSlot;
}

/** An answer that refuses: the JSON error body `{"error":{code,message}}` with its code's status. */
export interface Refusal {
  code: ErrorCode;
  message: string;
}

/** What admission reads of a request, as the path that received it sees it. */
export interface AdmissionRequest {
  /** The Host and Origin headers (undefined when absent). */
  host: string | undefined;
  origin: string | undefined;
  client: ClientView;
  socket: Socket;
  /** The credential sent (tokenOf), read only once the slot is taken. */
  token(): string | undefined;
  /** For the refusal log: the method and the path without its query. */
  method: string;
  path: string;
}

/** Admit the request's client, or the refusal to send. */
export type Admit = (req: AdmissionRequest) => Promise<Admission | Refusal>;

export const isRefusal = (result: object): result is Refusal => 'code' in result;

/**
 * The slot is taken before the first await, so parallel requests cannot all pass the limit while
 * their credentials are being verified; it is released if the request is refused or its socket
 * closes first, and taken over by the connection at attach.
 *
 * @example
 * const admit = createAdmission(hub, auth, logRefusal);
 * const admitted = await admit(req);
 * if (isRefusal(admitted)) return send(admitted);
 */
export function createAdmission(hub: Hub, auth: Authenticator, logRefusal: LogRefusal): Admit {
  const { config } = hub;
  const refuse = (req: AdmissionRequest, code: ErrorCode, setting: string, message: string): Refusal => {
    logRefusal(req, code, setting, message);
    return { code, message };
  };
  return async (req) => {
    if (hub.draining) return { code: 'unavailable', message: 'this node is draining for a restart; connect to another node' };
    const { origin, socket } = req;
    if (origin !== undefined) {
      const own = ownOrigins(req.host, req.client, config.publicUrl);
      if (!originAllowed(origin, own, config.allowedOrigins)) return refuse(req, 'forbidden', 'ALLOWED_ORIGINS', originProblem(origin, own));
    }
    // A request pipelined behind an SSE stream on its own socket would write into that stream.
    if (carriesStream(socket)) return { code: 'bad_request', message: 'this connection already carries an SSE stream; open another connection' };
    const slot = socket.destroyed ? null : hub.reserveConnection(req.client.address);
    if (!slot) {
      return refuse(req, 'too_many_connections', 'MAX_CONNECTIONS_PER_IP', `at most ${config.maxConnectionsPerIp} connections per address (MAX_CONNECTIONS_PER_IP)`);
    }
    holdUntilClose(socket, slot);
    const token = req.token();
    const result = await auth.authenticate(token);
    if (!result.ok) {
      slot.release();
      return refuse(req, 'unauthorized', credentialSetting(token), result.reason);
    }
    return { principal: result.principal, slot };
  };
}

export interface StreamRequest {
  patterns: string[];
  options: SubscribeOptions;
}

/**
 * A `/ws/<patterns>` or `/sse/<patterns>` request: its patterns (the decoded path parameter) and
 * its query (from the request URL), or the 400 to send.
 */
export function streamRequest(param: string, url: string, maxSubscriptions: number): StreamRequest | Refusal {
  const patterns = param.split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of patterns) {
    const problem = topicError(p, true);
    if (problem) return { code: 'bad_topic', message: `${p}: ${problem}` };
  }
  if (patterns.length > maxSubscriptions) return { code: 'too_many_subscriptions', message: `at most ${maxSubscriptions} patterns (MAX_SUBSCRIPTIONS)` };
  // Most taps have no query: then there is no URL to parse.
  const query = url.includes('?') ? new URL(url).searchParams : new URLSearchParams();
  const options = parseTapQuery(query, patterns);
  if (typeof options === 'string') return { code: 'bad_request', message: options };
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
