/**
 * `ws` with its own permessage-deflate, the way a user turns compression on: `client.send(text)`
 * per subscriber, so every delivery is deflated separately, in that socket's own zlib context
 * (ws's defaults: context takeover, zlib level and memory defaults, a deflate stream per socket).
 * `DEFLATE_THRESHOLD` (default 256, tickhub's COMPRESSION_MIN_BYTES) is ws's `threshold`, so both
 * compress the same messages.
 *
 * Subscribers: `GET /sub`. Publisher: `GET /pub`. Env: PORT, HOST (default 127.0.0.1), DEFLATE_THRESHOLD.
 */
import { createServer } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { announce, listenFromEnv } from './listen.ts';

const threshold = Number(process.env.DEFLATE_THRESHOLD ?? 256);
const http = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: { threshold } });
const subs = new Set<WebSocket>();

http.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    if (req.url === '/sub') {
      subs.add(ws);
      ws.on('close', () => subs.delete(ws));
    } else if (req.url === '/pub') {
      ws.on('message', (data) => {
        const text = data.toString();
        for (const client of subs) if (client.readyState === WebSocket.OPEN) client.send(text);
      });
    } else {
      ws.close(1008, 'unknown path');
    }
  });
});

listenFromEnv(http).then(announce);
