/**
 * The ceiling: the least work a Node `ws` server can do per broadcast. Each published message is
 * framed once and the same bytes are written to every subscriber's raw socket; all sockets are
 * corked for the rest of the event-loop turn and uncorked once, so a burst of messages leaves in
 * one writev per subscriber.
 *
 * Subscribers: `GET /sub`. Publisher: `GET /pub`, sends text frames to relay verbatim.
 * Env: PORT, HOST (default 127.0.0.1).
 */
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import * as wsModule from 'ws';
import { WebSocketServer } from 'ws';
import { announce, listenFromEnv } from './listen.ts';

/** `ws` exports its frame encoder at runtime; @types/ws does not declare it. */
interface FrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
}
const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } };

const http = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const subs = new Set<Socket>();
let corked = false;

function uncorkAll(): void {
  corked = false;
  for (const s of subs) s.uncork();
}

function broadcast(payload: Buffer): void {
  const frame = Buffer.concat(
    Sender.frame(payload, { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }),
  );
  if (!corked) {
    corked = true;
    for (const s of subs) s.cork();
    setImmediate(uncorkAll);
  }
  for (const s of subs) s.write(frame);
}

http.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    if (req.url === '/sub') {
      const raw = (ws as unknown as { _socket: Socket })._socket;
      // A socket added mid-turn would otherwise be uncorked one time too many (harmless) or
      // written uncorked; cork it to match the others.
      if (corked) raw.cork();
      subs.add(raw);
      ws.on('close', () => subs.delete(raw));
    } else if (req.url === '/pub') {
      ws.on('message', (data, isBinary) => {
        if (!isBinary) broadcast(data as Buffer);
      });
    } else {
      ws.close(1008, 'unknown path');
    }
  });
});

listenFromEnv(http).then(announce);
