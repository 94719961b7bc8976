/**
 * The security headers every HTTP response carries (WebSocket handshakes and SSE streams aside):
 * one table, written by the Hono middleware and by the lean publish and upgrade paths alike. These are the
 * values hono's `secureHeaders` produced for our options (defaults, our CSP, no COEP, HSTS only
 * over TLS), precomputed once so a response does not rebuild them.
 */
/** The dashboard may talk only to its own origin ('self' covers same-host ws: and wss:). */
const CSP = [
  "default-src 'self'",
  "connect-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'self'",
].join('; ');

/**
 * Sent only when the client came over TLS: the hub's own (TLS_CERT_FILE), a trusted proxy's
 * `https`, or PUBLIC_URL `https://`. Over plain HTTP, and on a hub reached by IP, it is
 * meaningless and misleading.
 */
export const HSTS = 'max-age=15552000; includeSubDomains';

/** Name (lower case, as Headers sends them) and value, in name order. */
export const SECURITY_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['content-security-policy', CSP],
  ['cross-origin-opener-policy', 'same-origin'],
  ['cross-origin-resource-policy', 'same-origin'],
  ['origin-agent-cluster', '?1'],
  ['referrer-policy', 'no-referrer'],
  ['x-content-type-options', 'nosniff'],
  ['x-dns-prefetch-control', 'off'],
  ['x-download-options', 'noopen'],
  ['x-frame-options', 'SAMEORIGIN'],
  ['x-permitted-cross-domain-policies', 'none'],
  ['x-xss-protection', '0'],
];

/**
 * The headers of a JSON reply answered without Hono (the lean publish and upgrade routes): the
 * table, content-type and HSTS when `tls`, in the name order Headers sends them, as Hono would.
 */
export function jsonReplyHeaders(tls: boolean): Array<readonly [string, string]> {
  const list: Array<readonly [string, string]> = [...SECURITY_HEADERS, ['content-type', 'application/json']];
  if (tls) list.push(['strict-transport-security', HSTS]);
  return sortedPairs(list);
}

/** Header pairs sorted by name, as Headers iterates them. */
export const sortedPairs = (list: ReadonlyArray<readonly [string, string]>): Array<readonly [string, string]> => [...list].sort(([a], [b]) => (a < b ? -1 : 1));

/** Sets the table on a response's headers (replacing a route's own values), HSTS when `tls`; drops X-Powered-By. */
export function setSecurityHeaders(headers: Headers, tls: boolean): void {
  for (const [name, value] of SECURITY_HEADERS) headers.set(name, value);
  if (tls) headers.set('strict-transport-security', HSTS);
  headers.delete('x-powered-by');
}

