/**
 * Socket.IO 4 with one room, websocket transport only. Subscribers join room `r` on connect; a
 * connection with `?role=pub` is the publisher, whose `p` events are broadcast as
 * `io.to('r').emit('m', payload)`.
 *
 * Env: PORT, HOST (default 127.0.0.1).
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { announce, listenFromEnv } from './listen.ts';

const http = createServer();
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });

io.on('connection', (socket) => {
  if (socket.handshake.query.role === 'pub') {
    socket.on('p', (payload: unknown) => {
      io.to('r').emit('m', payload);
    });
  } else {
    void socket.join('r');
  }
});

listenFromEnv(http).then(announce);
