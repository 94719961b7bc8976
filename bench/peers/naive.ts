/**
 * The naive broadcast most `ws` code starts with: for each message, `client.send(text)` per
 * subscriber, so every delivery is framed (and the string encoded) separately.
 *
 * With `DEFLATE_THRESHOLD` set it is also the way a user turns compression on: `ws`'s own
 * permessage-deflate (its defaults: context takeover, a deflate stream per socket), so every
 * delivery of at least that many bytes is deflated separately in its socket's zlib context
 * (bench/compression.ts sets it to tickhub's COMPRESSION_MIN_BYTES, so both compress the same messages).
 *
 * Subscribers: `GET /sub`. Publisher: `GET /pub`. Env: PORT, HOST (default 127.0.0.1), DEFLATE_THRESHOLD.
 */
import { createServer } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { announce, listenFromEnv } from './listen.ts';

const threshold = process.env.DEFLATE_THRESHOLD;
const http = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: threshold === undefined ? false : { threshold: Number(threshold) } });
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
