/**
 * What a Connection needs from the wire under it: the raw socket its outbox writes shared Buffers
 * to, how control frames are framed, how to close and how to check liveness. A connection is a
 * WebSocket (this file, the only one besides heartbeat.ts that knows `ws`) or an SSE stream
 * (sse-transport.ts); the hub, delivery and the sessions never ask which.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { frameText } from './outbox.ts';

/** How messages are framed for a connection: delivery builds each kind at most once per message. */
export type Framing = 'ws' | 'sse';

/** A control frame: `{op, ...}` (protocol/wire.ts). */
export type ControlFrame = { readonly op: string };

export interface Transport {
  readonly framing: Framing;
  /** The socket the outbox writes to (corked per batch). */
  readonly socket: Socket;
  /**
   * Applied to every frame as it enters the outbox queue, in write order; null for none (WebSocket).
   * SSE uses it so ids never go backwards (a frame released out of pos order loses its id).
   */
  readonly label: ((frame: Buffer) => Buffer) | null;
  /** A control frame (`welcome`, `reset`, `error`, `expiring`, replies) as this transport carries it. */
  control(frame: ControlFrame): Buffer;
  /** A text line (line mode). */
  text(text: string): Buffer;
  /** End the stream telling the client why (WebSocket close frame; SSE `event: close`). */
  close(code: number, reason: string): void;
  terminate(): void;
  /**
   * One heartbeat visit. Returns a frame to queue (SSE's comment) or null when the transport pings
   * itself (WebSocket ping); `alive` says whether the peer may count as alive until the next visit.
   */
  heartbeat(): { frame: Buffer | null; alive: boolean };
  /** Set `liveness.alive` whenever the peer proves it is alive (a pong); SSE has no such signal. */
  onPong(liveness: Liveness): void;
}

/** What a pong marks alive (the Connection, for the heartbeat). */
export interface Liveness {
  alive: boolean;
}

/** A `ws` WebSocket as a Transport. */
export class WsTransport implements Transport {
  readonly socket: Socket;
  /** Marked alive by every pong (onPong). */
  private liveness: Liveness | null = null;

  constructor(readonly ws: WebSocket) {
    this.socket = (ws as unknown as { _socket: Socket })._socket;
  }

  // The same for every WebSocket: on the prototype, not a field per connection.
  get framing(): 'ws' {
    return 'ws';
  }

  get label(): null {
    return null;
  }

  control(frame: ControlFrame): Buffer {
    return frameText(JSON.stringify(frame));
  }

  text(text: string): Buffer {
    return frameText(text);
  }

  close(code: number, reason: string): void {
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
    }
  }

  terminate(): void {
    this.ws.terminate();
  }

  heartbeat(): { frame: null; alive: false } {
    this.ws.ping(); // the pong marks it alive
    return NO_FRAME;
  }

  onPong(liveness: Liveness): void {
    this.liveness = liveness;
    (this.ws as PongingSocket)[TRANSPORT] = this;
    this.ws.on('pong', markAlive); // one function for every socket, not a closure each
  }

  /** The peer answered a ping. */
  ponged(): void {
    this.liveness!.alive = true;
  }
}

const NO_FRAME = { frame: null, alive: false } as const;

const TRANSPORT = Symbol('tickhub.wsTransport');
type PongingSocket = WebSocket & { [TRANSPORT]: WsTransport };

function markAlive(this: WebSocket): void {
  (this as PongingSocket)[TRANSPORT].ponged();
}
