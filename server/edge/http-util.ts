/** Small helpers shared by the HTTP and WebSocket routes. */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';

export type Env = { Bindings: { incoming: IncomingMessage } };

const statusOf: Record<string, 400 | 401 | 403 | 404 | 413 | 415 | 429 | 500 | 503> = {
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  too_many_connections: 429,
  too_many_topics: 429,
  unavailable: 503,
  internal: 500,
};

/** A JSON error body `{"error":{"code","message"}}` with the status that fits the code (400 otherwise). */
export const apiError = (c: Context, code: string, message: string) => c.json({ error: { code, message } }, statusOf[code] ?? 400);

/** undefined when absent, null when present but not a non-negative integer. */
export function optionalInt(text: string | undefined): number | undefined | null {
  if (text === undefined) return undefined;
  return /^\d{1,15}$/.test(text) ? Number(text) : null;
}

/** Name of the cookie a browser may carry its token in. */
export const TOKEN_COOKIE = 'tickhub_token';

/** The caller's token: `?token=`, then `Authorization: Bearer`, then the cookie. */
export function tokenOf(c: Context): string | undefined {
  const fromQuery = c.req.query('token');
  if (fromQuery !== undefined) return fromQuery;
  const header = c.req.header('authorization');
  const m = header ? /^Bearer\s+(.+)$/i.exec(header) : null;
  if (m) return m[1].trim();
  return getCookie(c, TOKEN_COOKIE);
}

/** The peer's address as the socket sees it (no proxy headers are trusted). */
export const remoteOf = (c: Context<Env>): string => c.env.incoming.socket.remoteAddress ?? 'unknown';
