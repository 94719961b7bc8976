/** Small helpers shared by the HTTP and WebSocket routes. */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import { ERROR_CODES, type ErrorCode } from '../../protocol/errors.ts';
import type { ClientView } from './client-address.ts';

/** The node-server request, and the client behind it (set by the app's first middleware). */
export type Env = { Bindings: { incoming: IncomingMessage }; Variables: { client: ClientView } };


/** hono's secureHeaders default for Strict-Transport-Security, sent only to clients that came over TLS. */
export const HSTS = 'max-age=15552000; includeSubDomains';

/**
 * Whether this client came over TLS (the hub's own TLS_CERT_FILE, a trusted proxy's `https`) or
 * the hub is published at an `https://` PUBLIC_URL: then responses carry HSTS. Over plain HTTP it
 * is meaningless and, on a hub reached by IP, misleading.
 */
export const overTls = (c: Context<Env>, publicUrl: string | null | undefined): boolean => (publicUrl?.startsWith('https:') ?? false) || c.get('client').proto === 'https';

/** A JSON error body `{"error":{"code","message"}}` with the status ERROR_CODES gives the code. */
export const apiError = (c: Context, code: ErrorCode, message: string) => c.json({ error: { code, message } }, ERROR_CODES[code]);

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

/** The client's address: behind TRUSTED_PROXIES the forwarded one, else the socket peer's. */
export const remoteOf = (c: Context<Env>): string => c.get('client').address;
