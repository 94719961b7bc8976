/**
 * The publisher side of the load generator: one `ws` connection that sends messages at a target
 * rate. Messages due per timer tick are sent as one batch with the socket corked, so high rates are
 * hit precisely without one syscall per message.
 */
import WebSocket from 'ws';
import { nowMs, sleep } from './clock.ts';
import { envelopeJson, hubPublishJson, socketIoPublishPacket } from './payload.ts';

/** How the publisher reaches a server and frames a message for it. */
export interface PublisherTarget {
  url: string;
  /** WebSocket subprotocol (tickhub app mode: `hub.v1`). */
  protocol?: string;
  /** `envelope`: send the delivered frame verbatim; `hub`: tickhub `pub` op; `socketio`: `42["p",...]`. */
  format: 'envelope' | 'hub' | 'socketio';
}

/** Outcome of one publishing run. */
export interface PublishResult {
  sent: number;
  /** nowMs() of the first and last send. */
  startAt: number;
  endAt: number;
  /** tickhub only: `ok` and `error` replies seen so far in this run. */
  acks: number;
  errors: number;
  firstError: string | null;
}

interface SocketLike {
  cork(): void;
  uncork(): void;
}

export class Publisher {
  private ws: WebSocket | null = null;
  private seq = 0;
  private acks = 0;
  private errors = 0;
  private firstError: string | null = null;

  constructor(private readonly target: PublisherTarget) {}

  /** Connects; for tickhub waits for `welcome`, for socket.io for the namespace connect ack. */
  open(timeoutMs = 10_000): Promise<void> {
    const { url, protocol, format } = this.target;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocol ? [protocol] : [], { perMessageDeflate: false });
      this.ws = ws;
      const timer = setTimeout(() => reject(new Error(`publisher connect timeout: ${url}`)), timeoutMs);
      const ready = (): void => {
        clearTimeout(timer);
        resolve();
      };
      ws.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      ws.on('close', (code, reason) => {
        if (!this.firstError) this.firstError = `publisher closed ${code} ${reason.toString()}`;
      });
      if (format === 'envelope') ws.on('open', ready);
      ws.on('message', (raw: WebSocket.RawData) => {
        const text = raw.toString();
        if (format === 'hub') {
          if (text.startsWith('{"op":"ok"')) this.acks++;
          else if (text.includes('"op":"welcome"')) ready();
          else if (text.includes('"op":"error"')) {
            this.errors++;
            if (!this.firstError) this.firstError = text.slice(0, 300);
          }
        } else if (format === 'socketio') {
          if (text.startsWith('0')) ws.send('40');
          else if (text === '2') ws.send('3');
          else if (text.startsWith('40')) ready();
          else if (text.startsWith('44') && !this.firstError) this.firstError = text.slice(0, 300);
        }
      });
    });
  }

  /** Publishes at `rate` msg/s for `durationMs`; resolves when the last message is written. */
  async run(rate: number, durationMs: number): Promise<PublishResult> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) throw new Error('publisher not open');
    const socket = (ws as unknown as { _socket: SocketLike })._socket;
    const encode =
      this.target.format === 'hub' ? hubPublishJson : this.target.format === 'socketio' ? socketIoPublishPacket : envelopeJson;
    this.acks = 0;
    this.errors = 0;
    const total = Math.max(1, Math.round((rate * durationMs) / 1000));
    const startAt = nowMs();
    let endAt = startAt;
    let sent = 0;
    while (sent < total) {
      const t = nowMs();
      // +1: the first message goes out at t = 0, the last one at t = (total - 1) / rate.
      const due = Math.min(total, Math.floor(((t - startAt) * rate) / 1000) + 1);
      if (due > sent) {
        socket.cork();
        while (sent < due) {
          ws.send(encode(++this.seq, t));
          sent++;
        }
        socket.uncork();
        endAt = t;
      }
      if (sent < total) await sleep(1);
    }
    return { sent, startAt, endAt, acks: this.acks, errors: this.errors, firstError: this.firstError };
  }

  /** Replies seen since the last run started (tickhub acks arrive after the run resolves). */
  replies(): { acks: number; errors: number; firstError: string | null } {
    return { acks: this.acks, errors: this.errors, firstError: this.firstError };
  }

  /** Closes the connection. */
  close(): void {
    this.ws?.close();
  }
}
