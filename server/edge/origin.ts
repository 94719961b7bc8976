/**
 * Who may reach the hub from a browser. Two checks, shared by the WebSocket upgrade and HTTP
 * publishing:
 * - Host (DNS rebinding): a page on evil.example whose name resolves to the hub sends
 *   `Host: evil.example`. Only loopback names, IP literals and ALLOWED_HOSTS are served.
 * - Origin (cross-site requests): only the hub's own origin (same scheme, host and port) and
 *   ALLOWED_ORIGINS may open a WebSocket or publish; only http(s) origins count.
 */
import { isIP } from 'node:net';

/** The scheme this server speaks (TLS is terminated in front of it). */
const OWN_SCHEME = 'http:';

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
export function hostAllowed(host: string | undefined, allowed: string[]): boolean {
  if (host === undefined || allowed.includes('*')) return true;
  const name = hostnameOf(host);
  if (name === null) return false;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name.replace(/^\[|\]$/g, '')) !== 0) return true;
  return allowed.some((entry) => entry === name || (entry.startsWith('*.') && name.endsWith(entry.slice(1))));
}

/**
 * True if a browser page of `origin` may talk to the hub reached as `host`: same origin (http,
 * equal host and port), an entry of `allowed` (exact origin), or `allowed` has `*`.
 * `null`, `file:` and other non-http(s) origins are refused.
 */
export function originAllowed(origin: string, host: string | undefined, allowed: string[]): boolean {
  if (allowed.includes('*')) return true;
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
  if (host && parsed.protocol === OWN_SCHEME && parsed.host === host.toLowerCase()) return true;
  return allowed.includes(parsed.origin);
}

/**
 * Why a request that changes state (publishing) must be refused as cross-site, or null. Origin,
 * when present, must be allowed; without it, `Sec-Fetch-Site: cross-site` betrays a browser
 * request from another site.
 */
export function crossSiteProblem(headers: { origin?: string; host?: string; secFetchSite?: string }, allowed: string[]): string | null {
  if (headers.origin !== undefined) {
    return originAllowed(headers.origin, headers.host, allowed) ? null : `origin ${headers.origin} is not allowed (ALLOWED_ORIGINS)`;
  }
  if (headers.secFetchSite?.toLowerCase() === 'cross-site') return 'cross-site request without an allowed Origin (ALLOWED_ORIGINS)';
  return null;
}
