/**
 * An SSE stream as a Transport. The edge writes the response head and hands over the raw socket;
 * from then on the outbox writes shared event Buffers to it, corked per batch, exactly as for
 * WebSockets.
 *
 * Body framing: chunked, not close-delimited. Behind nginx (`proxy_http_version 1.1`) and HAProxy
 * a chunked body tells a clean end (the last chunk, after `event: close`) from a node that died
 * mid-stream: with a close-delimited body both look alike to the proxy, which then ends its own
 * response to the client normally; with chunks it cuts the client off without a last chunk, so
 * the client (curl, EventSource) sees a broken stream, not a finished one. The body's length is
 * explicit either way, so a proxy never has to guess where it ends. The response still says
 * `Connection: close`: the stream is its connection's last response. HTTP/1.0 (no chunks) is
 * refused by the route. The chunk header is built into each shared event Buffer (sse-frame.ts),
 * so chunking costs nothing per subscriber.
 */
import type { Socket } from 'node:net';
import { LAST_CHUNK, SSE_HEARTBEAT, chunk, sseEvent, sseId, sseIdless, type SseMessageFrame } from './sse-frame.ts';
import type { ControlFrame, Transport } from './transport.ts';

/** A closing stream whose peer does not take the last bytes is destroyed after this long. */
const CLOSE_TIMEOUT_MS = 5000;

/** Control ops and the SSE event each becomes (`error` collides with EventSource's own event). */
const EVENT_OF: Record<string, string> = { welcome: 'welcome', reset: 'reset', error: 'hub-error', expiring: 'expiring', gap: 'gap' };

export class SseTransport implements Transport {
  readonly framing = 'sse' as const;
  /** Highest pos whose id this stream has queued: a frame at or below it goes without its id. */
  private lastPos = 0;
  /** Bytes the socket had flushed at the last heartbeat visit. */
  private flushedAtVisit = 0;

  constructor(readonly socket: Socket) {}

  /** Where the stream starts (its welcome id): the broker position, or the Last-Event-ID resumed from. */
  startAt(pos: number): void {
    this.lastPos = pos;
  }

  readonly label = (frame: Buffer): Buffer => {
    const pos = (frame as SseMessageFrame).ssePos;
    if (pos === undefined) return frame;
    if (pos > this.lastPos) {
      this.lastPos = pos;
      return frame;
    }
    return sseIdless(frame as SseMessageFrame);
  };

  control(frame: ControlFrame): Buffer {
    const json = JSON.stringify(frame);
    if (frame.op === 'welcome') return sseEvent('welcome', json, sseId(String((frame as { epoch?: unknown }).epoch), this.lastPos));
    return sseEvent(EVENT_OF[frame.op] ?? `hub-${frame.op}`, json);
  }

  text(text: string): Buffer {
    return chunk(`${text.split('\n').map((line) => `data: ${line}`).join('\n')}\n\n`);
  }

  /** `event: close` with the code a WebSocket would get, the last chunk, then FIN. */
  close(code: number, reason: string): void {
    const { socket } = this;
    if (socket.destroyed) return;
    socket.end(Buffer.concat([sseEvent('close', JSON.stringify({ code, reason })), LAST_CHUNK]));
    setTimeout(() => socket.destroy(), CLOSE_TIMEOUT_MS).unref();
  }

  terminate(): void {
    this.socket.destroy();
  }

  /**
   * A comment keeps proxies' read timeouts from firing. The peer counts as alive while the socket
   * is empty or has flushed something since the last visit: a reader that stopped with bytes
   * pending is terminated at the next visit (TCP keepalive covers a peer that vanished).
   */
  heartbeat(): { frame: Buffer; alive: boolean } {
    const { socket } = this;
    const flushed = socket.bytesWritten - socket.writableLength;
    const alive = socket.writableLength === 0 || flushed > this.flushedAtVisit;
    this.flushedAtVisit = flushed;
    return { frame: SSE_HEARTBEAT, alive };
  }

  onPong(): void {}
}
