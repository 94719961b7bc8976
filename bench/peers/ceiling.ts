/**
 * The ceiling: the least work a Node `ws` server can do per broadcast. Each published message is
 * framed once and the same bytes are written to every subscriber's raw socket, corked for the
 * turn and uncorked once (fanout.ts). The topic is read from the envelope's first bytes; the
 * envelope is relayed verbatim.
 *
 * Subscribers: `GET /sub` (the bench topic) or `GET /sub?t=ticks.S0001,ticks.*,>`. Publisher:
 * `GET /pub`, sends envelopes to relay. Env: PORT, HOST (default 127.0.0.1).
 */
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { BENCH_TOPIC } from '../lib/payload.ts';
import { envelopeTopic, FanOut, patternsOf } from './fanout.ts';
import { announce, listenFromEnv } from './listen.ts';

const http = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const fanout = new FanOut();

http.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    if (req.url?.startsWith('/sub')) {
      const raw = (ws as unknown as { _socket: Socket })._socket;
      const remove = fanout.add(raw, patternsOf(req.url, BENCH_TOPIC));
      ws.on('close', remove);
    } else if (req.url === '/pub') {
      ws.on('message', (data, isBinary) => {
        const topic = isBinary ? null : envelopeTopic(data as Buffer);
        if (topic) fanout.publish(topic, data as Buffer);
      });
    } else {
      ws.close(1008, 'unknown path');
    }
  });
});

listenFromEnv(http).then(announce);
