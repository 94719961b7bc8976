/**
 * The one reconnecting app-mode client, shared by the dashboard (browser WebSocket) and the
 * simulator and tests (`ws`). It keeps its subscriptions across reconnects and resumes each one
 * from the last seq it saw per topic, so a short outage costs no message and no duplicate.
 */
import { HubError } from '../protocol/errors.ts';
import { MAX_SINCE_TOPICS } from '../protocol/limits.ts';
import {
  APP_SUBPROTOCOL,
  type ClientRequest,
  type ErrorReply,
  type ExpiringFrame,
  type HubMessage,
  type OkReply,
  type ResetFrame,
  type ServerFrame,
  type WelcomeFrame,
} from '../protocol/wire.ts';
// Pure module (no Node APIs), so the browser bundle can share the hub's matcher.
import { matches } from '../protocol/topics.ts';

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

export type ClientStatus = 'connecting' | 'open' | 'closed';

export interface HubClientOptions {
  /** App-mode endpoint, e.g. `ws://127.0.0.1:5000/ws`. */
  url: string;
  /** Publish key or token, sent as `?token=`. */
  token?: string;
  /**
   * Called when the hub says the credential is `expiring`: the fresh token it returns is sent with
   * `auth` on the open connection (no reconnect) and used for later reconnects. If it throws,
   * rejects or is absent, nothing changes: the hub closes 4001 at expiry and the client reconnects.
   */
  getToken?: () => string | Promise<string>;
  /** Defaults to the global `WebSocket` (browsers); pass one built on `ws` in Node 20. */
  connect?: WebSocketFactory;
  /** First reconnect delay; doubles up to `maxBackoffMs`, with full jitter. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Called on every status change; `attempt` counts reconnect attempts since the last open. */
  onStatus?: (status: ClientStatus, attempt: number) => void;
  /** Called on each welcome frame (first connect and every reconnect). */
  onWelcome?: (welcome: WelcomeFrame) => void;
}

export interface SubscribeOptions {
  /** Ask for the last N messages per topic before live ones (first connect only). */
  snapshot?: number;
  /** Deliver at most this many messages per second per topic (latest value wins). */
  maxHz?: number;
  /** The hub could not replay a gap: state derived from earlier messages of `topic` is stale. */
  onReset?: (reset: ResetFrame) => void;
}

interface Subscription {
  pattern: string;
  onMessage: (msg: HubMessage) => void;
  options: SubscribeOptions;
  /** Last seq seen per concrete topic: what a resume asks for. */
  lastSeq: Map<string, number>;
  /** Hub time of that last message: a seq 1 newer than it is a topic that started over, an older one a replay. */
  lastTs: Map<string, number>;
  /** Hub time the subscription first took effect: a resume replays unseen topics from here. */
  sinceTs?: number;
}

interface Pending {
  resolve: (reply: OkReply) => void;
  reject: (err: Error) => void;
}

const OPEN = 1;

/**
 * @example
 * const hub = new HubClient({ url: 'ws://127.0.0.1:5000/ws', connect: (u, p) => new WebSocket(u, p) });
 * hub.subscribe('ticks.*', (m) => console.log(m.topic, m.data), { snapshot: 1 });
 * await hub.publish('chat', { nick: 'bot', text: 'hello' });
 */
export class HubClient {
  private socket: WebSocketLike | null = null;
  private readonly subs = new Map<string, Subscription>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private attempt = 0;
  private epoch: string | null = null;
  private stopped = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  /** The token for the next connect: `options.token`, then the latest from `getToken`. */
  private token: string | undefined;
  /** A getToken call in flight: one refresh at a time. */
  private refreshing = false;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  status: ClientStatus = 'closed';

  constructor(private readonly options: HubClientOptions) {
    this.minBackoffMs = options.minBackoffMs ?? 250;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
    this.token = options.token;
    if (!(this.minBackoffMs > 0 && this.maxBackoffMs >= this.minBackoffMs)) {
      throw new RangeError('HubClient: need 0 < minBackoffMs <= maxBackoffMs');
    }
    this.open();
  }

  /** Subscribe to a topic or pattern; returns a function that unsubscribes. One handler per pattern. */
  subscribe(pattern: string, onMessage: (msg: HubMessage) => void, options: SubscribeOptions = {}): () => void {
    const sub: Subscription = { pattern, onMessage, options, lastSeq: new Map(), lastTs: new Map() };
    this.subs.set(pattern, sub);
    if (this.isOpen()) this.sendSub(sub);
    return () => {
      if (this.subs.get(pattern) !== sub) return;
      this.subs.delete(pattern);
      if (this.isOpen()) this.request({ op: 'unsub', topic: pattern }).catch(() => {});
    };
  }

  /** Publish; resolves with the seq the hub assigned. Rejects at once while disconnected. */
  async publish(topic: string, data: unknown): Promise<{ seq: number; ts: number }> {
    const reply = await this.request({ op: 'pub', topic, data });
    return { seq: reply.seq as number, ts: reply.ts as number };
  }

  /** A page of a topic's history. */
  async history(topic: string, opts: { since?: number; limit?: number } = {}): Promise<HubMessage[]> {
    const reply = await this.request({ op: 'history', topic, ...opts });
    return reply.messages as HubMessage[];
  }

  /** Send any request; resolves with the ok reply, rejects with a HubError. */
  request(body: DistributiveOmit<ClientRequest, 'id'>): Promise<OkReply> {
    if (!this.isOpen()) return Promise.reject(new HubError('unavailable', 'not connected to the hub'));
    const id = this.nextId++;
    return new Promise<OkReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket!.send(JSON.stringify({ ...body, id }));
    });
  }

  /** Stop for good: closes the socket and cancels reconnects. */
  close(): void {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.socket?.close(1000, 'client closing');
    this.setStatus('closed');
  }

  private isOpen(): boolean {
    return this.socket !== null && this.socket.readyState === OPEN && this.status === 'open';
  }

  private open(): void {
    const url = new URL(this.options.url);
    if (this.token) url.searchParams.set('token', this.token);
    const connect = this.options.connect ?? defaultConnect;
    this.setStatus('connecting');
    let socket: WebSocketLike;
    try {
      socket = connect(url.toString(), APP_SUBPROTOCOL);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onmessage = (ev) => this.onFrame(String(ev.data));
    // Every close not asked for by close() reconnects, whatever its code: 1001 (hub restarting),
    // 1012 (resume), 4001 (credential expired: the hub may take the token this client has now).
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.failPending();
      if (!this.stopped) this.scheduleReconnect();
    };
    socket.onerror = () => {}; // onclose follows and handles it
  }

  private onFrame(text: string): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text) as ServerFrame;
    } catch {
      return;
    }
    if (!('op' in frame)) return this.onMessage(frame);
    switch (frame.op) {
      case 'welcome':
        return this.onWelcome(frame);
      case 'ok':
      case 'error':
        return this.settle(frame);
      case 'reset':
        return this.onReset(frame);
      case 'expiring':
        return this.onExpiring(frame);
    }
  }

  /** Refresh the credential in place: a fresh token from `getToken`, sent with `auth`. */
  private onExpiring(_frame: ExpiringFrame): void {
    const getToken = this.options.getToken;
    if (!getToken || this.refreshing) return;
    this.refreshing = true;
    const socket = this.socket;
    void (async () => {
      try {
        const token = await getToken();
        if (typeof token !== 'string' || token === '' || this.stopped) return;
        this.token = token;
        if (this.socket === socket && this.isOpen()) await this.request({ op: 'auth', token });
      } catch (err) {
        console.error('tickhub client: refreshing the credential failed; the hub will close at expiry and the client reconnect', err);
      } finally {
        this.refreshing = false;
      }
    })();
  }

  private onWelcome(welcome: WelcomeFrame): void {
    this.epoch ??= welcome.epoch;
    const sameEpoch = this.epoch === welcome.epoch;
    this.attempt = 0;
    this.setStatus('open');
    this.options.onWelcome?.(welcome);
    for (const sub of this.subs.values()) this.sendSub(sub, sameEpoch ? undefined : welcome.epoch);
    this.epoch = welcome.epoch;
  }

  /** (Re)subscribe; after a reconnect, resume from the last seen seq of each topic. */
  private sendSub(sub: Subscription, newEpoch?: string): void {
    const { snapshot, maxHz } = sub.options;
    const resume = sub.sinceTs !== undefined;
    const req: DistributiveOmit<ClientRequest, 'id'> = resume
      ? { op: 'sub', topic: sub.pattern, since: sinceOf(sub.lastSeq), sinceTs: sub.sinceTs, epoch: this.epoch ?? undefined, snapshot, maxHz }
      : { op: 'sub', topic: sub.pattern, snapshot, maxHz };
    if (newEpoch !== undefined) {
      // Another epoch: the hub answers with reset frames and a fresh snapshot; start over.
      sub.lastSeq.clear();
      sub.lastTs.clear();
      sub.sinceTs = undefined;
    }
    this.request(req).then(
      (ok) => {
        if (this.subs.get(sub.pattern) === sub) sub.sinceTs ??= ok.ts as number;
      },
      () => {}, // a lost connection retries on reconnect
    );
  }

  private onMessage(msg: HubMessage): void {
    for (const sub of this.subs.values()) {
      if (!matches(sub.pattern, msg.topic)) continue;
      const last = sub.lastSeq.get(msg.topic);
      // A lower seq that is newer than the last message: the hub forgot the idle topic and it
      // started over (docs/protocol.md). Otherwise it is a copy (an overlapping resume, a replay).
      if (last !== undefined && msg.seq <= last && !(msg.seq === 1 && msg.ts > sub.lastTs.get(msg.topic)!)) continue;
      sub.lastSeq.set(msg.topic, msg.seq);
      sub.lastTs.set(msg.topic, msg.ts);
      try {
        sub.onMessage(msg);
      } catch (err) {
        console.error(`tickhub client: handler for ${sub.pattern} threw`, err);
      }
    }
  }

  private onReset(reset: ResetFrame): void {
    this.epoch = reset.epoch; // what follows belongs to this epoch; resume from it next time
    for (const sub of this.subs.values()) {
      if (!matches(sub.pattern, reset.topic)) continue;
      sub.lastSeq.delete(reset.topic);
      sub.lastTs.delete(reset.topic);
      sub.options.onReset?.(reset);
    }
  }

  private settle(reply: OkReply | ErrorReply): void {
    if (typeof reply.id !== 'number') return;
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    this.pending.delete(reply.id);
    if (reply.op === 'ok') pending.resolve(reply);
    else pending.reject(new HubError(reply.code, reply.message));
  }

  private failPending(): void {
    for (const p of this.pending.values()) p.reject(new HubError('unavailable', 'connection to the hub lost'));
    this.pending.clear();
  }

  private scheduleReconnect(): void {
    this.setStatus('closed');
    const ceiling = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** this.attempt);
    this.attempt++;
    const delay = this.minBackoffMs / 2 + Math.random() * (ceiling - this.minBackoffMs / 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.stopped) this.open();
    }, delay);
  }

  private setStatus(status: ClientStatus): void {
    if (this.status === status) return;
    this.status = status;
    this.options.onStatus?.(status, this.attempt);
  }
}

/**
 * The `since` of a resume, at most MAX_SINCE_TOPICS topics (the hub refuses more). Topics left
 * out replay from `sinceTs`; what of that the client has already is dropped by its seq check.
 */
function sinceOf(lastSeq: Map<string, number>): Record<string, number> {
  const since: Record<string, number> = {};
  let n = 0;
  for (const [topic, seq] of lastSeq) {
    if (n++ === MAX_SINCE_TOPICS) break;
    since[topic] = seq;
  }
  return since;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function defaultConnect(url: string, protocol: string): WebSocketLike {
  const Ctor = (globalThis as { WebSocket?: new (url: string, protocol: string) => WebSocketLike }).WebSocket;
  if (!Ctor) throw new Error('HubClient: no global WebSocket; pass options.connect (e.g. with the ws package)');
  return new Ctor(url, protocol);
}
