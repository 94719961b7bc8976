/**
 * HubClient's WebSocket transport: one app-mode (`hub.v1`) socket. Requests are JSON frames with
 * an `id`; subscriptions are `sub` requests that resume from the client's per-topic seqs.
 */
import { HubError } from '../protocol/errors.ts';
import { APP_SUBPROTOCOL, type ErrorReply, type OkReply, type ServerFrame, type WelcomeFrame } from '../protocol/wire.ts';
import { forgetPositions, sinceOf, type ClientState, type RequestBody, type Subscription, type Transport, type TransportEvents } from './transport.ts';

/** The subset of the standard WebSocket API the client uses; both the browser's and `ws` fit. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}
export type WebSocketFactory = (url: string, protocol: string) => WebSocketLike;

interface Pending {
  resolve: (reply: OkReply) => void;
  reject: (err: Error) => void;
}

const OPEN = 1;

export class WsTransport implements Transport {
  readonly kind = 'ws';
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private welcomed = false;
  private ended = false;

  /**
   * Opens the socket (`url` gets `?token=`); null when the factory throws (no socket: the caller
   * retries). Every close not asked for by `close()` is reported, whatever its code: 1001 (hub
   * restarting), 1012 (resume), 4001 (credential expired: the client may have a fresh token now).
   */
  static open(url: string, connect: WebSocketFactory | undefined, state: ClientState, events: TransportEvents): WsTransport | null {
    const target = new URL(url);
    if (state.token) target.searchParams.set('token', state.token);
    try {
      return new WsTransport((connect ?? defaultConnect)(target.toString(), APP_SUBPROTOCOL), state, events);
    } catch {
      return null;
    }
  }

  private constructor(
    private readonly socket: WebSocketLike,
    private readonly state: ClientState,
    private readonly events: TransportEvents,
  ) {
    socket.onmessage = (ev) => this.onFrame(String(ev.data));
    socket.onclose = () => {
      if (this.ended) return;
      this.ended = true;
      this.failPending('connection to the hub lost');
      events.closed(this.welcomed);
    };
    socket.onerror = () => {}; // onclose follows and handles it
  }

  resubscribe(_welcome: WelcomeFrame, epochChanged: boolean): void {
    for (const sub of this.state.subs.values()) this.sendSub(sub, epochChanged);
  }

  subscribed(sub: Subscription): void {
    this.sendSub(sub, false);
  }

  unsubscribed(pattern: string): void {
    this.request({ op: 'unsub', topic: pattern }).catch(() => {});
  }

  request(body: RequestBody): Promise<OkReply> {
    if (!this.isOpen()) return Promise.reject(new HubError('unavailable', 'not connected to the hub'));
    const id = this.nextId++;
    return new Promise<OkReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // `op` and `id` first: a `pub` in the order op, id, topic, data takes the hub's fast reader.
      const { op, ...rest } = body;
      this.socket.send(JSON.stringify({ op, id, ...rest }));
    });
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.failPending('connection to the hub closed');
    this.socket.close(1000, 'client closing');
  }

  private isOpen(): boolean {
    return !this.ended && this.welcomed && this.socket.readyState === OPEN;
  }

  private onFrame(text: string): void {
    if (this.ended) return;
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text) as ServerFrame;
    } catch {
      return;
    }
    if (!('op' in frame)) return this.events.message(frame);
    switch (frame.op) {
      case 'welcome':
        this.welcomed = true;
        return this.events.welcome(frame);
      case 'ok':
      case 'error':
        return this.settle(frame);
      case 'reset':
        return this.events.reset(frame);
      case 'expiring':
        return this.events.expiring(frame);
    }
  }

  /** (Re)subscribe; after a reconnect, resume from the last seen seq of each topic. */
  private sendSub(sub: Subscription, epochChanged: boolean): void {
    const { snapshot, maxHz } = sub.options;
    const req: RequestBody =
      sub.sinceTs !== undefined
        ? { op: 'sub', topic: sub.pattern, since: sinceOf(sub.lastSeq), sinceTs: sub.sinceTs, epoch: this.state.epoch ?? undefined, snapshot, maxHz }
        : { op: 'sub', topic: sub.pattern, snapshot, maxHz };
    // Another epoch: the hub answers with reset frames and a fresh snapshot; start over.
    if (epochChanged) forgetPositions(sub);
    this.request(req).then(
      (ok) => {
        if (this.state.subs.get(sub.pattern) === sub) sub.sinceTs ??= ok.ts as number;
      },
      () => {}, // a lost connection retries on reconnect
    );
  }

  private settle(reply: OkReply | ErrorReply): void {
    if (typeof reply.id !== 'number') return;
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    this.pending.delete(reply.id);
    if (reply.op === 'ok') pending.resolve(reply);
    else pending.reject(new HubError(reply.code, reply.message));
  }

  private failPending(why: string): void {
    for (const p of this.pending.values()) p.reject(new HubError('unavailable', why));
    this.pending.clear();
  }
}

function defaultConnect(url: string, protocol: string): WebSocketLike {
  const Ctor = (globalThis as { WebSocket?: new (url: string, protocol: string) => WebSocketLike }).WebSocket;
  if (!Ctor) throw new Error('HubClient: no global WebSocket; pass options.connect (e.g. with the ws package)');
  return new Ctor(url, protocol);
}
