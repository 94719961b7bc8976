/**
 * uWebSockets.js (v20, the unofficial npm build) with its own pub/sub, written as its README
 * suggests: subscribers `ws.subscribe(topic)`, and each message from the publisher is
 * `app.publish(topic, message)`, relayed verbatim. uWS topics have no wildcards, so a `prefix.*`
 * or `>` subscriber subscribes to every topic of the bench's topic list (TOPICS env: a count of
 * `ticks.S0000`... topics; 0 = only the bench topic), as a uWS user would.
 *
 * Subscribers: `GET /sub` or `GET /sub?t=...`. Publisher: `GET /pub`, sends envelopes.
 * Env: PORT, HOST (default 127.0.0.1), TOPICS.
 */
import { createRequire } from 'node:module';
import { BENCH_TOPIC, manyTopics } from '../lib/payload.ts';
import { envelopeTopic, patternsOf } from './fanout.ts';

interface UwsSocket {
  subscribe(topic: string): boolean;
  getUserData(): { url: string };
}
interface UwsApp {
  ws(pattern: string, behavior: Record<string, unknown>): UwsApp;
  publish(topic: string, message: ArrayBuffer | Uint8Array, isBinary?: boolean): boolean;
  listen(host: string, port: number, cb: (socket: unknown) => void): UwsApp;
}
interface UwsRequest {
  getUrl(): string;
  getQuery(): string;
  getHeader(name: string): string;
}
interface UwsResponse {
  upgrade(userData: object, key: string, protocol: string, extensions: string, context: unknown): void;
}

const require = createRequire(import.meta.url);
const uws = require('@trufflesuite/uws-js-unofficial') as { App(): UwsApp };
const known = manyTopics(Number(process.env.TOPICS ?? 0));

function expand(pattern: string): string[] {
  if (pattern === '>') return known.length ? known : [BENCH_TOPIC];
  if (pattern.endsWith('.*')) {
    const prefix = pattern.slice(0, -1);
    return known.filter((t) => t.startsWith(prefix) && !t.slice(prefix.length).includes('.'));
  }
  return [pattern];
}

const app = uws.App().ws('/*', {
  compression: 0,
  maxPayloadLength: 1024 * 1024,
  // A slow subscriber is skipped (its messages dropped) beyond this; the bench counts that as loss.
  maxBackpressure: 8 * 1024 * 1024,
  idleTimeout: 0,
  upgrade: (res: UwsResponse, req: UwsRequest, context: unknown) => {
    const query = req.getQuery();
    res.upgrade(
      { url: query ? `${req.getUrl()}?${query}` : req.getUrl() },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws: UwsSocket) => {
    const { url } = ws.getUserData();
    if (url.startsWith('/sub')) for (const p of patternsOf(url, BENCH_TOPIC)) for (const t of expand(p)) ws.subscribe(t);
  },
  message: (_ws: UwsSocket, message: ArrayBuffer, isBinary: boolean) => {
    if (isBinary) return;
    const bytes = Buffer.from(message);
    const topic = envelopeTopic(bytes);
    if (topic) app.publish(topic, bytes, false);
  },
});

const port = Number(process.env.PORT ?? 0);
const host = process.env.HOST ?? '127.0.0.1';
app.listen(host, port, (socket) => {
  if (!socket) {
    process.stderr.write(`uws: cannot listen on ${host}:${port}\n`);
    process.exit(1);
  }
  process.stdout.write(`listening ${host}:${port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
