/**
 * Raw HTTP over a bare TCP socket, for tests that must see a response byte for byte (a refused
 * upgrade's body), send what `fetch` will not (a foreign Host, half a request), or connect from
 * another loopback address (`localAddress`).
 */
import net from 'node:net';

export interface RawExchange {
  /** Everything the server sent until it closed. */
  response: string;
  /** Milliseconds from connect to the server's close. */
  ms: number;
}

/** Connect, write `request` (or the chunks, `gapMs` apart), collect until the server closes (or `timeoutMs`). */
export function rawExchange(port: number, request: string | string[], options: { localAddress?: string; gapMs?: number; timeoutMs?: number } = {}): Promise<RawExchange> {
  const { localAddress, gapMs = 0, timeoutMs = 5000 } = options;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    const started = performance.now();
    let response = '';
    let timer: ReturnType<typeof setInterval> | undefined;
    const deadline = setTimeout(() => {
      socket.destroy();
      reject(new Error(`server did not close within ${timeoutMs} ms; got ${JSON.stringify(response.slice(0, 200))}`));
    }, timeoutMs);
    socket.on('data', (d) => (response += d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(deadline);
      clearInterval(timer);
      resolve({ response, ms: performance.now() - started });
    });
    socket.once('connect', () => {
      const chunks = Array.isArray(request) ? [...request] : [request];
      socket.write(chunks.shift()!);
      if (chunks.length) timer = setInterval(() => (chunks.length && !socket.destroyed ? socket.write(chunks.shift()!) : clearInterval(timer)), gapMs);
    });
  });
}

/** The status and JSON body of a raw response (`Content-Length` checked). */
export function parseResponse(response: string): { status: number; headers: string; body: string } {
  const end = response.indexOf('\r\n\r\n');
  const headers = response.slice(0, end);
  const body = response.slice(end + 4);
  const length = /content-length:\s*(\d+)/i.exec(headers);
  if (length && Number(length[1]) !== Buffer.byteLength(body)) throw new Error(`Content-Length ${length[1]} but body of ${Buffer.byteLength(body)} bytes`);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1] ?? 0), headers, body };
}

/** An upgrade request for `path` with extra header lines. */
export function upgradeRequest(path: string, host: string, extra: Record<string, string> = {}): string {
  const lines = Object.entries(extra).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${lines}\r\n`;
}

/**
 * Connect, write `request`, and resolve with the first response as soon as its headers and
 * `Content-Length` body are in (a 101 keeps the socket open, so this does not wait for a close).
 */
export function rawResponse(port: number, request: string, options: { localAddress?: string; timeoutMs?: number } = {}): Promise<string> {
  const { localAddress, timeoutMs = 5000 } = options;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    let response = '';
    const finish = (error?: Error) => {
      clearTimeout(deadline);
      socket.destroy();
      if (error) reject(error);
      else resolve(response);
    };
    const deadline = setTimeout(() => finish(new Error(`no complete response within ${timeoutMs} ms; got ${JSON.stringify(response.slice(0, 200))}`)), timeoutMs);
    socket.on('data', (d) => {
      response += d;
      const end = response.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length:\s*(\d+)/i.exec(response.slice(0, end))?.[1] ?? 0);
      if (Buffer.byteLength(response.slice(end + 4)) >= length) finish();
    });
    socket.on('error', () => {});
    socket.on('close', () => finish(response ? undefined : new Error('closed without a response')));
    socket.once('connect', () => socket.write(request));
  });
}
