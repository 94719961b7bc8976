/**
 * Who a request really comes from, and how the client reached the hub, behind reverse proxies.
 * Forwarded headers are believed only from TRUSTED_PROXIES: the walk starts at the socket peer
 * and moves one hop towards the client for as long as the hop it is at is trusted. From an
 * untrusted peer every forwarded header is ignored, so a client cannot choose its own address.
 *
 * RFC 7239 `Forwarded` (parsed by forwarded-parse) is read when a trusted peer sends it (it then wins over the `X-Forwarded-*`
 * headers); otherwise `X-Forwarded-For` is walked by proxy-addr and `X-Forwarded-Proto` /
 * `X-Forwarded-Host` give the scheme and host (their last value: the one the nearest proxy set).
 */
import type { IncomingMessage } from 'node:http';
import { isIP, isIPv4 } from 'node:net';
import type { TLSSocket } from 'node:tls';
import forwardedParse from 'forwarded-parse';
import proxyaddr from 'proxy-addr';

/** What the edge knows about a request's client. */
export interface ClientView {
  /** The client's address: the first untrusted hop, or the socket peer when it is untrusted. */
  address: string;
  /** The socket peer (the proxy, when there is one). */
  peer: string;
  /**
   * `http` or `https` as a trusted proxy received the request; else `https` when the hub's own
   * TLS (TLS_CERT_FILE) received it; undefined when neither said (plain http to the hub).
   */
  proto?: 'http' | 'https';
  /** The Host the client sent to a trusted proxy; undefined when none said. */
  host?: string;
}

/** One element of a `Forwarded` header: its parameters, names lower-cased, values unquoted. */
export type ForwardedElement = Record<string, string>;

/**
 * Parse an RFC 7239 `Forwarded` header value into its elements (first = the hop nearest the
 * client), parameter names lower-cased, quoted values unquoted (forwarded-parse, a kept parser,
 * not ours). Returns null for a malformed value, which the caller must then ignore as a whole.
 *
 * @example
 * parseForwarded('for=192.0.2.60;proto=https, for="[2001:db8::17]:4711"');
 * // [{ for: '192.0.2.60', proto: 'https' }, { for: '[2001:db8::17]:4711' }]
 */
export function parseForwarded(value: string): ForwardedElement[] | null {
  try {
    return forwardedParse(value);
  } catch {
    return null;
  }
}

/**
 * The IP address in a `Forwarded` node (`for=` value): `192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]`,
 * `[2001:db8::1]:4711`. Null for obfuscated or unknown nodes (`unknown`, `_hidden`) and junk.
 */
export function nodeAddress(node: string): string | null {
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::[0-9A-Za-z_.-]+)?$/.exec(node);
  if (bracketed) return isIP(bracketed[1]) === 6 ? bracketed[1] : null;
  if (isIP(node) !== 0) return node;
  const withPort = /^([0-9.]+):[0-9A-Za-z_.-]+$/.exec(node);
  return withPort && isIPv4(withPort[1]) ? withPort[1] : null;
}

/** `::ffff:192.0.2.1` -> `192.0.2.1`, so a client counts once however it is written. */
const unmapped = (address: string): string => (address.toLowerCase().startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address);

/** The last comma-separated value of a header (the one the nearest proxy set), lower-cased. */
function lastValue(header: string | string[] | undefined): string | undefined {
  const text = Array.isArray(header) ? header.join(',') : header;
  const last = text?.split(',').pop()?.trim().toLowerCase();
  return last || undefined;
}

const asProto = (text: string | undefined): 'http' | 'https' | undefined => (text === 'http' || text === 'https' ? text : undefined);

/** Throws a message naming TRUSTED_PROXIES when an entry is not an address, CIDR or keyword. */
export function compileTrust(trusted: string[]): (address: string, hop: number) => boolean {
  try {
    return proxyaddr.compile(trusted);
  } catch (err) {
    throw new Error(`TRUSTED_PROXIES: ${(err as Error).message} (want addresses, CIDRs, loopback, linklocal or uniquelocal)`);
  }
}

/** TRUSTED_PROXIES, compiled. */
export interface ClientResolver {
  /** True if a socket peer at `address` is a trusted proxy (its forwarded headers count). */
  trusts(address: string): boolean;
  /** The ClientView of a request. */
  of(req: IncomingMessage): ClientView;
}

/**
 * Compile TRUSTED_PROXIES once, at start.
 *
 * @example
 * const clients = createClientResolver(['loopback', '10.0.0.0/8']);
 * clients.of(req).address; // the client behind nginx, not nginx
 */
export function createClientResolver(trusted: string[]): ClientResolver {
  const trust = compileTrust(trusted);
  return {
    trusts: (address) => trust(address, 0),
    of(req) {
      const peer = req.socket.remoteAddress ?? 'unknown';
      // The hub's own TLS: what the client reached when no trusted proxy says otherwise.
      const tls = (req.socket as TLSSocket).encrypted === true;
      if (!trust(peer, 0)) return tls ? { address: unmapped(peer), peer, proto: 'https' } : { address: unmapped(peer), peer };
      const forwarded = req.headers.forwarded;
      const elements = forwarded === undefined ? null : parseForwarded(forwarded);
      const view: ClientView = elements
        ? walkForwarded(peer, elements, trust)
        : {
            address: unmapped(proxyaddr(req, trust)),
            peer,
            proto: asProto(lastValue(req.headers['x-forwarded-proto'])),
            host: lastValue(req.headers['x-forwarded-host']),
          };
      if (tls) view.proto ??= 'https';
      return view;
    },
  };
}

/**
 * Walk `Forwarded` elements from the nearest (last) one while the hop is trusted. The element
 * the outermost trusted proxy added names the client (`for`) and how it came in (`proto`, `host`).
 * An obfuscated or missing `for` stops the walk at the trusted hop that wrote it.
 */
function walkForwarded(peer: string, elements: ForwardedElement[], trust: (address: string, hop: number) => boolean): ClientView {
  let address = peer;
  let element: ForwardedElement | undefined;
  for (let hop = 0, i = elements.length - 1; i >= 0; i--) {
    element = elements[i];
    const next = element.for === undefined ? null : nodeAddress(element.for);
    if (next === null) break;
    address = next;
    if (!trust(next, ++hop)) break;
  }
  return { address: unmapped(address), peer, proto: asProto(element?.proto?.toLowerCase()), host: element?.host?.toLowerCase() || undefined };
}
