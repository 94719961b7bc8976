/**
 * A WebSocket client made of a bare TCP socket, for tests that need to stop reading (a slow
 * consumer) or send frames `ws` would refuse to build. Parses server frames minimally.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';

export interface RawFrame {
  opcode: number;
  /** RSV1: the payload is compressed (permessage-deflate). */
  rsv1: boolean;
  payload: Buffer;
}

export interface RawSocket {
  socket: net.Socket;
  /** Frames parsed so far (only while reading). */
  frames: RawFrame[];
  /** Stop reading: the kernel buffers fill and the server sees backpressure. */
  pause(): void;
  resume(): void;
  /** Send a masked frame as a client must. */
  sendFrame(opcode: number, payload: Buffer, fin?: boolean): void;
  ended: Promise<void>;
}

/** A client frame: masked, as RFC 6455 requires. */
export function maskedFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = randomBytes(4);
  const len = payload.length;
  const header = len < 126 ? Buffer.alloc(2) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  header[0] = (fin ? 0x80 : 0) | opcode;
  if (len < 126) header[1] = 0x80 | len;
  else if (len < 65536) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(len, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= mask[i & 3];
  return Buffer.concat([header, mask, masked]);
}

/**
 * `pipelined`: bytes sent in the same write as the upgrade request, before any response.
 * `headers`: extra request header lines (e.g. `Sec-WebSocket-Extensions: permessage-deflate`).
 */
export async function openRawSocket(url: string, protocol?: string, pipelined?: Buffer, headers: string[] = []): Promise<RawSocket> {
  const { hostname, port, pathname, search } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.setNoDelay(true);
  const key = randomBytes(16).toString('base64');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const request = Buffer.from(
    `GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : ''}` +
      headers.map((h) => `${h}\r\n`).join('') +
      '\r\n',
  );
  socket.write(pipelined ? Buffer.concat([request, pipelined]) : request);
  let buffer: Buffer = Buffer.alloc(0);
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buffer.subarray(0, end).toString();
      buffer = buffer.subarray(end + 4);
      socket.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
      else resolve();
    };
    socket.on('data', onData);
  });
  const frames: RawFrame[] = [];
  const parse = () => {
    for (;;) {
      if (buffer.length < 2) return;
      let len = buffer[1] & 0x7f;
      let offset = 2;
      if (len === 126) {
        if (buffer.length < 4) return;
        len = buffer.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (buffer.length < 10) return;
        len = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (buffer.length < offset + len) return;
      const frame = { opcode: buffer[0] & 0x0f, rsv1: (buffer[0] & 0x40) !== 0, payload: Buffer.from(buffer.subarray(offset, offset + len)) };
      frames.push(frame);
      buffer = buffer.subarray(offset + len);
      if (frame.opcode === 0x8) {
        raw.sendFrame(0x8, frame.payload.subarray(0, 2)); // complete the closing handshake
        socket.end();
      }
    }
  };
  socket.on('data', (chunk: Buffer) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    parse();
  });
  socket.on('error', () => {});
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const raw: RawSocket = {
    socket,
    frames,
    ended,
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    sendFrame(opcode, payload, fin = true) {
      socket.write(maskedFrame(opcode, payload, fin));
    },
  };
  parse(); // frames that arrived with the handshake response
  return raw;
}
