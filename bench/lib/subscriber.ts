/**
 * A deliberately minimal WebSocket subscriber on a raw `net` socket: hand-written upgrade, then
 * frame headers are parsed only far enough to count text frames and skip their payloads (hub
 * `op` frames, such as a tap's welcome, are recognised by their first bytes and not counted). One
 * frame in `sampler.every` is read to extract the publisher's send time for a latency sample.
 * This keeps the load generator cheap enough to drive a server at its ceiling.
 *
 * Dialect `engineio` additionally speaks engine.io v4 / socket.io over the websocket transport:
 * it answers the `0{...}` open packet with `40`, waits for the `40...` connect ack, answers ping
 * `2` with pong `3`, and counts `42[...]` event frames.
 */
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { nowMs } from './clock.ts';
import { parseSentMs } from './payload.ts';
import type { Histogram } from './histogram.ts';

export type Dialect = 'ws' | 'engineio';

/** Where and how to connect. */
export interface SubscriberTarget {
  host: string;
  port: number;
  /** Request path including query, e.g. `/ws/bench.topic` or `/socket.io/?EIO=4&transport=websocket`. */
  path: string;
  dialect: Dialect;
  /** Sent as Sec-WebSocket-Extensions (e.g. `permessage-deflate`); compressed frames are counted, not inflated. */
  extensions?: string;
  /** Source addresses to spread connections over (127.0.0.2, 127.0.0.3, ...), so 100k connections fit the ephemeral ports. */
  localAddresses?: string[];
}

/** Latency sampling shared by all subscribers of a process. */
export interface Sampler {
  /** Sample one data frame in `every` (per connection). */
  every: number;
  hist: Histogram;
  /** Sampled frames in which no send time could be found. */
  unparsable: number;
}

const CRLF2 = Buffer.from('\r\n\r\n');
/**
 * One read buffer for every socket of the process (`onread`): reads are handled synchronously,
 * so sharing is safe, and it skips a Buffer allocation and the stream machinery per read.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const OP_TEXT = 1;
const OP_CLOSE = 8;
const OP_PING = 9;
const CHAR_0 = 0x30;
const CHAR_2 = 0x32;
const CHAR_4 = 0x34;

/** How a hub's non-message frames (`{"op":...}`) begin. */
const OP_PREFIX = Buffer.from('{"op"');

/** Whether the text frame at `start..end` of `buf` is an `op` frame rather than a message. */
function isOpFrame(buf: Buffer, start: number, end: number): boolean {
  return end - start >= OP_PREFIX.length && buf.compare(OP_PREFIX, 0, OP_PREFIX.length, start, start + OP_PREFIX.length) === 0;
}

/** Builds a masked (all-zero mask, so the payload is unchanged) client frame. */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  if (payload.length > 125) throw new Error('control/handshake frame too long');
  const f = Buffer.alloc(6 + payload.length);
  f[0] = 0x80 | opcode;
  f[1] = 0x80 | payload.length;
  payload.copy(f, 6);
  return f;
}
const EIO_CONNECT = clientFrame(OP_TEXT, Buffer.from('40'));
const EIO_PONG = clientFrame(OP_TEXT, Buffer.from('3'));

export class RawSubscriber {
  /** Data frames received since the last `resetCount()`. */
  count = 0;
  /** nowMs() of the last chunk that carried a data frame. */
  lastAt = 0;
  /** Bytes read from the socket since the last `resetCount()` (WebSocket frames, headers included). */
  bytes = 0;
  closed = false;
  closeCode = 0;
  error: string | null = null;

  private socket: Socket | null = null;
  private handshake: Buffer | null = Buffer.alloc(0);
  private rest: Buffer | null = null;
  private skip = 0;
  private sampleIn: number;
  private ready = false;
  private onReady: (() => void) | null = null;
  private onFail: ((err: Error) => void) | null = null;

  constructor(
    private readonly target: SubscriberTarget,
    private readonly sampler: Sampler,
    private readonly index: number,
  ) {
    this.sampleIn = index % Math.max(1, sampler.every);
  }

  /** Connects and resolves once the subscription is live (after the socket.io connect ack). */
  open(timeoutMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error('subscriber connect timeout')), timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.onReady = this.onFail = null;
        resolve();
      };
      const fail = (err: Error): void => {
        clearTimeout(timer);
        this.onReady = this.onFail = null;
        this.error = err.message;
        this.socket?.destroy();
        reject(err);
      };
      this.onReady = done;
      this.onFail = fail;
      const { host, port, path, localAddresses } = this.target;
      const socket = connect({
        host,
        port,
        noDelay: true,
        ...(localAddresses?.length && { localAddress: localAddresses[this.index % localAddresses.length] }),
        onread: {
          buffer: READ_BUFFER,
          callback: (n: number, buf: Uint8Array): boolean => {
            this.onData(buf.subarray(0, n) as Buffer);
            return true;
          },
        },
      });
      this.socket = socket;
      socket.on('connect', () => {
        const key = randomBytes(16).toString('base64');
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
            (this.target.extensions ? `Sec-WebSocket-Extensions: ${this.target.extensions}\r\n` : '') +
            '\r\n',
        );
      });
      socket.on('error', (err) => {
        if (this.onFail) this.onFail(err);
        else this.error = err.message;
      });
      socket.on('close', () => {
        this.closed = true;
        this.onFail?.(new Error(`closed during handshake${this.closeCode ? ` (code ${this.closeCode})` : ''}`));
      });
    });
  }

  /** Zeroes the frame counter and re-phases sampling (start of a measurement step). */
  resetCount(): void {
    this.count = 0;
    this.lastAt = 0;
    this.bytes = 0;
    this.sampleIn = this.index % Math.max(1, this.sampler.every);
  }

  /** Closes the TCP connection without a WebSocket close handshake. */
  destroy(): void {
    this.socket?.destroy();
  }

  private becomeReady(): void {
    this.ready = true;
    this.onReady?.();
  }

  private onData(input: Buffer): void {
    this.bytes += input.length;
    let chunk = input;
    if (this.handshake) {
      const all = this.handshake.length ? Buffer.concat([this.handshake, chunk]) : chunk;
      const end = all.indexOf(CRLF2);
      if (end < 0) {
        this.handshake = Buffer.from(all); // `all` may be the shared read buffer
        return;
      }
      const head = all.toString('latin1', 0, end);
      this.handshake = null;
      if (!head.startsWith('HTTP/1.1 101')) {
        this.onFail?.(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
        return;
      }
      if (this.target.dialect === 'ws') this.becomeReady();
      chunk = all.subarray(end + 4);
      if (chunk.length === 0) return;
    }

    let off = 0;
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      off = n;
      if (off === chunk.length) return;
    }
    if (this.rest) {
      chunk = Buffer.concat([this.rest, chunk.subarray(off)]);
      this.rest = null;
      off = 0;
    }

    const len = chunk.length;
    const engineio = this.target.dialect === 'engineio';
    let counted = false;
    while (off < len) {
      if (len - off < 2) {
        this.rest = Buffer.from(chunk.subarray(off));
        break;
      }
      const opcode = chunk[off] & 0x0f;
      let plen = chunk[off + 1] & 0x7f;
      let hl = 2;
      if (plen === 126) {
        if (len - off < 4) {
          this.rest = Buffer.from(chunk.subarray(off));
          break;
        }
        plen = chunk.readUInt16BE(off + 2);
        hl = 4;
      } else if (plen === 127) {
        if (len - off < 10) {
          this.rest = Buffer.from(chunk.subarray(off));
          break;
        }
        plen = chunk.readUInt32BE(off + 2) * 2 ** 32 + chunk.readUInt32BE(off + 6);
        hl = 10;
      }
      const start = off + hl;
      const end = start + plen;
      // A hub frame that is not a message (a tap's welcome, reset, error) starts `{"op"`: wait for
      // those first bytes, then leave it uncounted.
      if (opcode === OP_TEXT && !engineio && start + Math.min(plen, OP_PREFIX.length) > len) {
        this.rest = Buffer.from(chunk.subarray(off));
        break;
      }
      const isData = opcode === OP_TEXT && (engineio ? this.ready && plen > 2 : !isOpFrame(chunk, start, end));
      const needContent = !isData || this.sampleIn === 0;
      if (!needContent) {
        this.count++;
        this.sampleIn--;
        counted = true;
        if (end > len) {
          this.skip = end - len;
          break;
        }
        off = end;
        continue;
      }
      if (end > len) {
        // Wait for the whole frame; it is re-parsed from its header next time.
        this.rest = Buffer.from(chunk.subarray(off));
        break;
      }
      if (isData) {
        this.count++;
        counted = true;
        this.sampleIn = this.sampler.every - 1;
        const sent = parseSentMs(chunk, start, end);
        if (Number.isNaN(sent)) this.sampler.unparsable++;
        else this.sampler.hist.record(nowMs() - sent);
      } else {
        this.control(opcode, chunk, start, end);
      }
      off = end;
    }
    if (counted) this.lastAt = nowMs();
  }

  /** Non-data frames: WebSocket control frames and engine.io handshake/ping packets. */
  private control(opcode: number, buf: Buffer, start: number, end: number): void {
    const socket = this.socket;
    if (!socket) return;
    if (opcode === OP_PING) {
      socket.write(clientFrame(0x0a, buf.subarray(start, end)));
    } else if (opcode === OP_CLOSE) {
      this.closeCode = end - start >= 2 ? buf.readUInt16BE(start) : 1005;
      socket.end();
    } else if (opcode === OP_TEXT && this.target.dialect === 'engineio') {
      const first = buf[start];
      if (first === CHAR_0) socket.write(EIO_CONNECT); // engine.io OPEN -> socket.io CONNECT
      else if (first === CHAR_2 && end - start === 1) socket.write(EIO_PONG); // PING -> PONG
      else if (first === CHAR_4 && buf[start + 1] === CHAR_0) this.becomeReady(); // CONNECT ack
    }
  }
}
