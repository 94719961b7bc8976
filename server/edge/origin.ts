/**
 * Who may reach the hub from a browser. Two checks, shared by the WebSocket upgrade and HTTP
 * publishing:
 * - Host (DNS rebinding): a page on evil.example whose name resolves to the hub sends
 *   `Host: evil.example`. Only loopback names, IP literals and ALLOWED_HOSTS are served.
 * - Origin (cross-site requests): only the hub's own origin (same scheme, host and port) and
 *   ALLOWED_ORIGINS may open a WebSocket or publish; only http(s) origins count.
 * Behind a proxy the hub's own origin is PUBLIC_URL, or the scheme and host a trusted proxy
 * forwarded (client-address.ts); without either it is `http://` + the Host header, or
 * `https://` + the Host header when the hub serves TLS itself (TLS_CERT_FILE).
 */
import { isIP } from 'node:net';
import type { ClientView } from './client-address.ts';

/** What to set when a browser's origin is refused. */
const ORIGIN_SETTINGS = 'set PUBLIC_URL or TRUSTED_PROXIES if the hub is behind a proxy, or list the origin in ALLOWED_ORIGINS';

/**
 * The Host a request is judged by: the one a trusted proxy forwarded, else the Host header.
 *
 * @example
 * effectiveHost(req.headers.host, clientOf(req)); // 'hub.example.com' behind nginx
 */
export const effectiveHost = (host: string | undefined, client: ClientView): string | undefined => client.host ?? host;

/**
 * The origins that count as the hub's own for a request: PUBLIC_URL, and the request's own
 * (scheme from a trusted proxy, else https over the hub's own TLS, else http; its effective host). Default ports are normalised away.
 */
export function ownOrigins(host: string | undefined, client: ClientView, publicUrl: string | null): string[] {
  const own: string[] = publicUrl ? [publicUrl] : [];
  const name = effectiveHost(host, client);
  if (name === undefined) return own;
  try {
    own.push(new URL(`${client.proto ?? 'http'}://${name}`).origin);
  } catch {
    // a malformed host names no origin
  }
  return own;
}

/** The lower-case host name of a Host header value (`name[:port]`, `[v6]:port`), or null if malformed. */
function hostnameOf(host: string): string | null {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::\d{1,5})?$/i.exec(host);
  return m ? m[1].toLowerCase() : null;
}

/**
 * True if a request with this Host header may be served. Loopback names (`localhost`,
 * `*.localhost`) and IP literals always may; `allowed` adds names (`name` or `*.domain`), `*` any.
 * A request without Host (HTTP/1.0) is not from a browser and passes.
 */
export function hostAllowed(host: string | undefined, allowed: readonly string[]): boolean {
  if (host === undefined || allowed.includes('*')) return true;
  const name = hostnameOf(host);
  if (name === null) return false;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name.replace(/^\[|\]$/g, '')) !== 0) return true;
  return allowed.some((entry) => entry === name || (entry.startsWith('*.') && name.endsWith(entry.slice(1))));
}

/**
 * Why a request with this Host header (judged as effectiveHost says) is not served here, or null.
 *
 * @example
 * hostProblem('evil.example', client, ['hub.example.com']); // 'host evil.example is not served here (...)'
 */
export function hostProblem(host: string | undefined, client: ClientView, served: readonly string[]): string | null {
  const judged = effectiveHost(host, client);
  return hostAllowed(judged, served) ? null : `host ${judged} is not served here (ALLOWED_HOSTS or PUBLIC_URL)`;
}

/**
 * True if a browser page of `origin` may talk to the hub: one of its `own` origins (ownOrigins),
 * an entry of `allowed` (exact origin), or `allowed` has `*`.
 * `null`, `file:` and other non-http(s) origins are refused.
 */
export function originAllowed(origin: string, own: readonly string[], allowed: readonly string[]): boolean {
  if (allowed.includes('*')) return true;
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
  return own.includes(parsed.origin) || allowed.includes(parsed.origin);
}

/** The refusal message for a browser origin that is not allowed, naming what to set. */
export const originProblem = (origin: string, own: readonly string[]): string =>
  `origin ${origin} is not allowed: the hub's own origin here is ${own.join(' or ') || 'unknown'}; ${ORIGIN_SETTINGS}`;

/**
 * Why a request that changes state (publishing) must be refused as cross-site, or null. Origin,
 * when present, must be allowed; without it, `Sec-Fetch-Site: cross-site` betrays a browser
 * request from another site.
 */
export function crossSiteProblem(headers: { origin?: string; secFetchSite?: string }, own: readonly string[], allowed: readonly string[]): string | null {
  if (headers.origin !== undefined) return originAllowed(headers.origin, own, allowed) ? null : originProblem(headers.origin, own);
  if (headers.secFetchSite?.toLowerCase() === 'cross-site') return 'cross-site request without an allowed Origin (ALLOWED_ORIGINS)';
  return null;
}
