/** Small helpers shared by the HTTP and WebSocket routes. */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import { parse as parseCookies } from 'hono/utils/cookie';
import { ERROR_CODES, type ErrorCode } from '../../protocol/errors.ts';
import type { ClientView } from './client-address.ts';

/** The node-server request, and the client behind it (set by the app's first middleware). */
export type Env = { Bindings: { incoming: IncomingMessage }; Variables: { client: ClientView } };

/**
 * Whether this client came over TLS (the hub's own TLS_CERT_FILE, a trusted proxy's `https`) or
 * the hub is published at an `https://` PUBLIC_URL: then responses carry HSTS. Over plain HTTP it
 * is meaningless and, on a hub reached by IP, misleading.
 */
export const overTls = (c: Context<Env>, publicUrl: string | null | undefined): boolean => (publicUrl?.startsWith('https:') ?? false) || c.get('client').proto === 'https';

/** A JSON error body `{"error":{"code","message"}}` with the status ERROR_CODES gives the code. */
export const apiError = (c: Context, code: ErrorCode, message: string) => c.json(errorBody(code, message), ERROR_CODES[code]);

/** The object of an error body. */
export const errorBody = (code: ErrorCode, message: string) => ({ error: { code, message } });

/** undefined when absent, null when present but not a non-negative integer. */
export function optionalInt(text: string | undefined): number | undefined | null {
  if (text === undefined) return undefined;
  return /^\d{1,15}$/.test(text) ? Number(text) : null;
}

/** Name of the cookie a browser may carry its token in. */
export const TOKEN_COOKIE = 'tickhub_token';

/** The caller's token: `?token=`, then `Authorization: Bearer`, then the cookie. */
export const tokenOf = (c: Context): string | undefined => tokenFrom(c.req.query('token'), c.req.header('authorization'), () => getCookie(c, TOKEN_COOKIE));

/** tokenOf from the parts: the `token` query parameter, the Authorization header, the cookie when needed. */
export function tokenFrom(fromQuery: string | undefined, authorization: string | undefined, cookie: () => string | undefined): string | undefined {
  if (fromQuery !== undefined) return fromQuery;
  const m = authorization ? /^Bearer\s+(.+)$/i.exec(authorization) : null;
  if (m) return m[1].trim();
  return cookie();
}

/** The token in a Cookie header's value, read as hono's getCookie reads it. */
export const cookieToken = (cookie: string | undefined): string | undefined => (cookie ? parseCookies(cookie, TOKEN_COOKIE)[TOKEN_COOKIE] : undefined);
