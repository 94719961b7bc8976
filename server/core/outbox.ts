/**
 * The hot path's write side. A message is framed once into a Buffer that every subscriber's
 * outbox shares; outboxes written while handling one event (a socket read, which may carry many
 * published messages, or a timer) are flushed together right after it (or after a short window),
 * each with one corked write, so a burst of messages costs one syscall per socket instead of one
 * per message.
 */
import type { Socket } from 'node:net';
import type { OverflowPolicy } from '../config.ts';

/** An unmasked, final WebSocket text frame (server to client) holding `text`. */
export function frameText(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const frame = allocFrame(0x81, length); // FIN + text opcode
  frame.write(text, frame.length - length, 'utf8');
  return frame;
}

/** An unmasked frame with first byte `firstByte` (FIN, RSV bits, opcode) holding `payload[0, length)`. */
export function frameBytes(firstByte: number, payload: Uint8Array, length = payload.length): Buffer {
  const frame = allocFrame(firstByte, length);
  frame.set(payload.subarray(0, length), frame.length - length);
  return frame;
}

/** A frame with its header written and room for `length` payload bytes after it. */
function allocFrame(firstByte: number, length: number): Buffer {
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = firstByte;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(0, 2);
    frame.writeUInt32BE(length, 6);
  }
  return frame;
}

export interface OutboxStats {
  /** Messages replaced by a newer one of the same topic while the socket was congested. */
  conflated: number;
  bytesOut: number;
  framesOut: number;
}

export type OverflowAction = 'queued' | 'conflated' | 'overflow';

/** A queue of this many bytes (or a quarter of the limit, if less) is written at once, not at the flush. */
export const EARLY_FLUSH_BYTES = 64 * 1024;

/** Replies and replays may hold this many times OUTBOX_LIMIT_BYTES before the peer counts as not reading. */
export const CONTROL_LIMIT_FACTOR = 8;

/**
 * One connection's pending frames, bounded in bytes (pending here plus unsent in the socket).
 * Under the limit, frames queue in order. Over it, a `conflate` frame replaces any pending frame
 * of its topic until the socket drains; a `disconnect` frame reports overflow and the owner
 * closes the connection.
 */
export class Outbox {
  /** Frames waiting for the next flush; null when none (an idle connection holds no array). */
  private queue: Buffer[] | null = null;
  private queuedBytes = 0;
  /** Latest frame per topic held back while congested; written, in first-seen order, on drain. */
  private held: Map<string, Buffer> | null = null;
  private scheduled = false;
  /**
   * Bytes the socket still held after the last flush while a 'drain' is due (0 otherwise, and once
   * it drains). A snapshot, so the per-delivery check costs a field read; it lags the socket by at
   * most one flush. Only a due 'drain' counts: it is what releases held frames.
   */
  private stuckBytes = 0;
  /** Set when the connection closes: nothing may follow the close frame. */
  private sealed = false;
  // OutboxStats, as fields: one object fewer per connection.
  private conflated = 0;
  private bytesOut = 0;
  private framesOut = 0;

  constructor(
    private readonly socket: Socket,
    private readonly limitBytes: number,
    private readonly flusher: Flusher,
    /** The transport's hook on every frame entering the queue, in write order (transport.ts); null for none. */
    private readonly label: ((frame: Buffer) => Buffer) | null = null,
  ) {
    (socket as DrainingSocket)[OUTBOX] = this;
    socket.on('drain', onSocketDrain); // one function for every socket, not a closure each
  }

  /** The socket wrote out what it held ('drain'): what was held back while congested goes now. */
  drained(): void {
    this.stuckBytes = 0;
    this.releaseHeld();
  }

  get stats(): OutboxStats {
    return { conflated: this.conflated, bytesOut: this.bytesOut, framesOut: this.framesOut };
  }

  /** Bytes waiting here or in the socket. */
  get depth(): number {
    return this.queuedBytes + this.socket.writableLength + (this.held ? heldBytes(this.held) : 0);
  }

  /**
   * Queue `frame` for `topic` under `policy`; says what happened. Congested means the peer is not
   * reading: the socket holds more than the limit (a batch never does here: it is written at a
   * quarter of the limit, see enqueue).
   */
  push(frame: Buffer, topic: string, policy: OverflowPolicy): OverflowAction {
    const congested = this.held !== null || (this.stuckBytes > 0 && this.stuckBytes + frame.length > this.limitBytes);
    if (!congested) {
      this.enqueue(frame);
      return 'queued';
    }
    if (policy === 'disconnect') return 'overflow';
    this.held ??= new Map();
    if (this.held.has(topic)) this.conflated++;
    this.held.set(topic, frame);
    return 'conflated';
  }

  /**
   * Queue a frame that must not be dropped (replies, notices, replays). Overflow only when the
   * peer has stopped reading: more than CONTROL_LIMIT_FACTOR times the limit stuck in the socket.
   * The margin is wide because a pipelining publisher's acks pile up there for as long as both
   * ends are busy (measured: 600 KB during a 20,000-message burst with a reading client).
   */
  pushControl(frame: Buffer): OverflowAction {
    if (this.socket.writableLength > CONTROL_LIMIT_FACTOR * this.limitBytes) return 'overflow';
    this.enqueue(frame);
    return 'queued';
  }

  /** Write everything queued in one corked batch. Called by the Flusher. */
  flush(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = null;
    if (queue === null || this.sealed || this.socket.destroyed || !this.socket.writable) {
      this.queuedBytes = 0;
      return;
    }
    this.bytesOut += this.queuedBytes;
    this.framesOut += queue.length;
    this.queuedBytes = 0;
    if (queue.length === 1) {
      this.socket.write(queue[0]);
    } else {
      this.socket.cork();
      for (const frame of queue) this.socket.write(frame);
      this.socket.uncork();
    }
    this.stuckBytes = this.socket.writableNeedDrain ? this.socket.writableLength : 0;
    // No 'drain' is coming (the socket took the batch below its high-water mark): release now.
    if (this.stuckBytes === 0) this.releaseHeld();
  }

  /** Flush what is queued, then accept nothing more. */
  seal(): void {
    this.flush();
    this.sealed = true;
    this.held = null;
  }

  private enqueue(frame: Buffer): void {
    if (this.sealed) return;
    if (this.label !== null) frame = this.label(frame);
    (this.queue ??= []).push(frame);
    this.queuedBytes += frame.length;
    // A batch this big gains nothing from waiting for more (a flush window, the rest of a
    // burst), and held longer it would count against the limit as if the peer were slow.
    if (this.queuedBytes >= Math.min(EARLY_FLUSH_BYTES, this.limitBytes / 4)) return this.flush();
    if (!this.scheduled) {
      this.scheduled = true;
      this.flusher.schedule(this);
    }
  }

  private releaseHeld(): void {
    const held = this.held;
    if (!held) return;
    this.held = null;
    for (const frame of held.values()) this.enqueue(frame);
  }
}

const OUTBOX = Symbol('tickhub.outbox');
type DrainingSocket = Socket & { [OUTBOX]: Outbox };

function onSocketDrain(this: DrainingSocket): void {
  this[OUTBOX].drained();
}

function heldBytes(held: Map<string, Buffer>): number {
  let n = 0;
  for (const f of held.values()) n += f.length;
  return n;
}

/**
 * Collects the outboxes written while handling an event and flushes them together: after
 * `windowMs` (a short batching window) or, with 0, as soon as the handler returns (a microtask).
 * A microtask, not setImmediate: the batch is the same (one socket read's messages), but it leaves
 * before the loop polls other sockets, which measurably cuts tail latency (README, Benchmarks).
 * While `busy()` says the event loop is loaded, the window is at least `busyWindowMs`: messages
 * of several reads then share each socket's write, fewer syscalls for the same deliveries.
 */
export class Flusher {
  private dirty: Outbox[] = [];
  private pending = false;
  private readonly run = () => {
    this.pending = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const outbox of dirty) {
      try {
        outbox.flush();
      } catch {
        // A socket that failed mid-write is closed by its own error handler; keep flushing the rest.
      }
    }
  };

  constructor(
    private readonly windowMs = 0,
    private readonly busyWindowMs = 0,
    private readonly busy: () => boolean = () => false,
  ) {
    if (!(windowMs >= 0)) throw new RangeError(`Flusher: windowMs must be >= 0, got ${windowMs}`);
    if (!(busyWindowMs >= 0)) throw new RangeError(`Flusher: busyWindowMs must be >= 0, got ${busyWindowMs}`);
  }

  schedule(outbox: Outbox): void {
    this.dirty.push(outbox);
    if (this.pending) return;
    this.pending = true;
    const window = this.busyWindowMs > this.windowMs && this.busy() ? this.busyWindowMs : this.windowMs;
    if (window > 0) setTimeout(this.run, window);
    else queueMicrotask(this.run);
  }

  /** Flush now (shutdown). */
  flushNow(): void {
    if (this.pending) this.run();
  }
}
