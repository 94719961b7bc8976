/**
 * One client socket as the hub sees it: identity, role, subscriptions and a bounded outbox.
 * Every byte to the client goes through the outbox, so replies and messages keep their order.
 */
import type { OverflowPolicy } from '../config.ts';
import type { AddressSlot } from './address-slots.ts';
import type { SharedDeflate } from './compression.ts';
import type { Principal } from './principal.ts';
import type { Envelope } from '../broker/broker.ts';
import { Flusher, Outbox, type OverflowAction } from './outbox.ts';
import { SmallMap } from './small-map.ts';
import type { ControlFrame, Framing, Transport } from './transport.ts';

export type ConnectionMode = 'line' | 'app' | 'tap' | 'sse';

/** Renders a message as a subscription's own text (e.g. `nick: text` chat lines for line mode). */
export type Renderer = (env: Envelope) => string;

export interface Subscription {
  readonly conn: Connection;
  readonly pattern: string;
  /** null: the wire JSON (framed once per message for everyone); otherwise this text. */
  readonly render: Renderer | null;
  /** Skip messages this connection published itself (chat is not echoed to its sender). */
  readonly skipOwn: boolean;
  /** At most this many messages per second per topic (latest wins); 0 = unthrottled. */
  readonly maxHz: number;
  /** While a replay is being sent, live messages wait here so replay and live stitch exactly. */
  replayBuffer: Envelope[] | null;
  /**
   * After a replay: per topic, the highest seq the client already has. A broker whose live
   * delivery lags its history (Redis) may still deliver those; they are skipped, once.
   */
  floor: Map<string, number> | null;
  /** maxHz state per topic sent recently (see Hub, maxHz); null when unthrottled. */
  throttle: Map<string, ThrottleState> | null;
}

/** One throttled topic of a subscription: when it may next be sent, and the latest frame held back. */
export interface ThrottleState {
  nextAt: number;
  held: Buffer | null;
  /** Bytes this entry counts toward its connection's `throttledBytes`. */
  bytes: number;
}

/** Close codes the hub uses (RFC 6455 section 7.4.1). */
export const CloseCode = {
  goingAway: 1001,
  invalidData: 1007,
  policy: 1008,
  tooBig: 1009,
  /** The broker lost messages (e.g. Redis restarted), or this node is draining (drain.ts): reconnect and resume. */
  serviceRestart: 1012,
  /** The connection's credential expired: reconnect with a fresh one. */
  credentialExpired: 4001,
} as const;

let nextConnectionId = 1;

export class Connection {
  readonly id = `c${nextConnectionId++}`;
  /** Its subscriptions by pattern; most connections have one. */
  readonly subs = new SmallMap<string, Subscription>();
  readonly outbox: Outbox;
  readonly openedAt = Date.now();
  /** Set by the heartbeat sweep, cleared by any pong or frame. */
  alive = true;
  /** Which heartbeat slice visits this connection. */
  heartbeatSlot = 0;
  /** Delivery stamp of the last message queued, so overlapping patterns deliver a message once. */
  lastStamp = 0;
  closed = false;
  /** Its chat nick, once it has one (ChatService keeps the rest of its chat state). */
  nick: string | null = null;
  /** Set at attach when the socket negotiated permessage-deflate under COMPRESSION=shared: it gets the shared compressed frames. */
  deflate: SharedDeflate | null = null;
  framesIn = 0;
  dropped = 0;
  /** Bytes of maxHz state (held-back frames) across this connection's subscriptions; bounded by OUTBOX_LIMIT_BYTES. */
  throttledBytes = 0;
  /** How its messages are framed (a field, so fan-out picks the shared frame with one compare). */
  readonly framing: Framing;

  constructor(
    /** The wire under it: a WebSocket or an SSE stream (transport.ts). */
    readonly transport: Transport,
    readonly mode: ConnectionMode,
    /** Who is on the other end; the `auth` op may change it. */
    public principal: Principal,
    /** Its share of MAX_CONNECTIONS_PER_IP, given back when it goes (detach). */
    readonly slot: AddressSlot,
    outboxLimitBytes: number,
    flusher: Flusher,
  ) {
    this.framing = transport.framing;
    this.outbox = new Outbox(transport.socket, outboxLimitBytes, flusher, transport.label);
  }

  /** The client's address (the real one behind TRUSTED_PROXIES), which its slot counts against. */
  get remote(): string {
    return this.slot.remote;
  }

  /**
   * Queue a framed message under its topic's overflow policy. Returns what happened; on
   * 'overflow' the connection has just been closed 1008 as a slow consumer.
   */
  pushMessage(frame: Buffer, topic: string, policy: OverflowPolicy): OverflowAction | 'closed' {
    if (this.closed) return 'closed';
    const action = this.outbox.push(frame, topic, policy);
    if (action === 'overflow') this.close(CloseCode.policy, 'slow consumer');
    else if (action === 'conflated') this.dropped++;
    return action;
  }

  /** Queue a text frame that must not be dropped (replies, notices, replay). */
  sendText(text: string): void {
    this.sendFrame(this.deflate?.frame(text) ?? this.transport.text(text));
  }

  /** Queue a framed message that must not be dropped. */
  sendFrame(frame: Buffer): void {
    if (this.closed) return;
    if (this.outbox.pushControl(frame) === 'overflow') this.close(CloseCode.policy, 'slow consumer');
  }

  /** Queue a control frame (`{op: ...}`), framed as its transport carries it. */
  sendJson<F extends ControlFrame>(frame: F): void {
    if (this.deflate) this.sendText(JSON.stringify(frame)); // WebSocket: replies are JSON text, compressed when large
    else this.sendFrame(this.transport.control(frame));
  }

  /** A heartbeat visit: ping (WebSocket) or queue a comment (SSE); false if the peer missed the last one. */
  heartbeat(): void {
    const { frame, alive } = this.transport.heartbeat();
    if (frame) this.sendFrame(frame);
    if (alive) this.alive = true;
  }

  /** Resolves once the socket has written what it holds (or closed). Used to pace replays. */
  drained(): Promise<void> {
    const socket = this.transport.socket;
    // Only a due 'drain' will fire: below the high-water mark the socket is as good as drained.
    if (this.closed || !socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.outbox.seal(); // what was queued (e.g. the error that explains this close) goes first
    this.transport.close(code, reason);
  }

  terminate(): void {
    this.closed = true;
    this.transport.terminate();
  }
}
