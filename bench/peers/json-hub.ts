/**
 * The minimal JSON hub: the fair floor for tickhub's ingest path. It does what any JSON pub/sub
 * hub must per message and nothing more: parse the request, give it the topic's next seq,
 * serialize the envelope once, frame it once for all subscribers (fanout.ts), and acknowledge.
 * No authentication, no rate limits, no history, no topic checks.
 *
 * Subscribers: `GET /sub` or `GET /sub?t=...` (see fanout.ts). Publisher: `GET /pub`, sends
 * tickhub's request shapes: `{"op":"pub","id","topic","data"}` answered `{"op":"ok","id","seq","ts"}`,
 * and `{"op":"pubs","id","messages":[{topic,data}]}` answered `{"op":"ok","id","results":[{seq,ts}]}`.
 * Env: PORT, HOST (default 127.0.0.1).
 */
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { BENCH_TOPIC } from '../lib/payload.ts';
import { FanOut, patternsOf } from './fanout.ts';
import { announce, listenFromEnv } from './listen.ts';

const http = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const fanout = new FanOut();
const seqs = new Map<string, number>();

function publish(topic: string, data: unknown): { seq: number; ts: number } {
  const seq = (seqs.get(topic) ?? 0) + 1;
  seqs.set(topic, seq);
  const ts = Date.now();
  fanout.publish(topic, Buffer.from(JSON.stringify({ topic, seq, ts, data })));
  return { seq, ts };
}

function onRequest(ws: WebSocket, text: string): void {
  let req: { op?: string; id?: unknown; topic?: unknown; data?: unknown; messages?: Array<{ topic?: unknown; data?: unknown }> };
  try {
    req = JSON.parse(text);
  } catch {
    ws.send('{"op":"error","code":"bad_json"}');
    return;
  }
  if (req.op === 'pub' && typeof req.topic === 'string') {
    const { seq, ts } = publish(req.topic, req.data);
    ws.send(`{"op":"ok","id":${JSON.stringify(req.id)},"seq":${seq},"ts":${ts}}`);
  } else if (req.op === 'pubs' && Array.isArray(req.messages)) {
    const results = req.messages.map((m) => (typeof m?.topic === 'string' ? publish(m.topic, m.data) : { error: { code: 'bad_request' } }));
    ws.send(JSON.stringify({ op: 'ok', id: req.id, results }));
  } else {
    ws.send(`{"op":"error","id":${JSON.stringify(req.id ?? null)},"code":"bad_request"}`);
  }
}

http.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    if (req.url?.startsWith('/sub')) {
      const raw = (ws as unknown as { _socket: Socket })._socket;
      const remove = fanout.add(raw, patternsOf(req.url, BENCH_TOPIC));
      ws.on('close', remove);
    } else if (req.url === '/pub') {
      ws.send('{"op":"welcome","v":1}'); // what tickhub's publisher waits for
      ws.on('message', (data, isBinary) => {
        if (!isBinary) onRequest(ws, data.toString());
      });
    } else {
      ws.close(1008, 'unknown path');
    }
  });
});

listenFromEnv(http).then(announce);
