/**
 * Reading a node `http` request directly, with the semantics the Fetch objects hono sees would
 * give it: header values joined the Fetch way, the body capped like hono's `bodyLimit` and
 * decoded like `Request.text()`, and an unread rest drained (bounded) so the socket can carry
 * the next request. For paths that skip building a Request (http-publish-route.ts).
 */
import type { IncomingMessage } from 'node:http';

/**
 * The value `Headers.get(name)` would give: every field named `name` (lower case), trimmed,
 * joined with ", " ("; " for cookie). Node's own `req.headers` keeps only the first of some
 * (Authorization, Host), which would let a duplicated header mean something else here.
 */
export function headerOf(req: IncomingMessage, name: string): string | undefined {
  const raw = req.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length !== name.length || raw[i].toLowerCase() !== name) continue;
    const v = raw[i + 1].trim();
    value = value === undefined ? v : value + (name === 'cookie' ? '; ' : ', ') + v;
  }
  return value;
}

/** The body, or 'too_large' once it is known to exceed `maxBytes` (by Content-Length, before reading). */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | 'too_large'> {
  const length = headerOf(req, 'content-length');
  if (length !== undefined && headerOf(req, 'transfer-encoding') === undefined && parseInt(length, 10) > maxBytes) return Promise.resolve('too_large');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (result: Buffer | 'too_large' | Error) => {
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.pause();
        done('too_large');
      } else chunks.push(chunk);
    };
    const onEnd = () => done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    const onError = (err: Error) => done(err);
    const onClose = () => done(new Error('request closed before its body ended'));
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

const utf8 = new TextDecoder();

/** UTF-8 text as `Request.text()` decodes it (a leading BOM dropped, bad bytes replaced). */
export const bodyText = (body: Buffer): string => utf8.decode(body);

/** node-server's bounds for discarding an unread body: past them the socket is closed instead. */
const DRAIN_TIMEOUT_MS = 500;
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

/**
 * Discard what is left of a request body answered without it (a refusal), so a keep-alive socket
 * reaches the next request; a body too long or too slow to discard closes the socket.
 */
export function drainRequest(req: IncomingMessage): void {
  if (req.readableEnded || req.destroyed) return;
  let bytes = 0;
  const close = () => {
    cleanup();
    req.socket?.destroySoon();
  };
  const timer = setTimeout(close, DRAIN_TIMEOUT_MS).unref();
  const onData = (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > MAX_DRAIN_BYTES) close();
  };
  const cleanup = () => {
    clearTimeout(timer);
    req.off('data', onData).off('end', cleanup).off('error', cleanup);
  };
  req.on('data', onData).on('end', cleanup).on('error', cleanup);
  req.resume();
}
