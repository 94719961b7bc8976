/**
 * The one reconnecting app-mode client, shared by the dashboard (browser WebSocket) and the
 * simulator and tests (`ws`). It keeps its subscriptions across reconnects and resumes each one
 * from the last seq it saw per topic, so a short outage costs no message and no duplicate.
 *
 * It reaches the hub over a WebSocket (ws-transport.ts). Where one cannot open (a proxy strips
 * `Upgrade`, or the upgrade never completes), it falls back to an SSE stream for data and HTTP
 * for requests (sse-transport.ts), resuming from the same positions, and keeps retrying the
 * WebSocket in the background; when one opens it switches back, resuming again.
 */
import { HubError } from '../protocol/errors.ts';
import type { ExpiringFrame, HubMessage, OkReply, ResetFrame, WelcomeFrame } from '../protocol/wire.ts';
// Pure module (no Node APIs), so the browser bundle can share the hub's matcher.
import { matches } from '../protocol/topics.ts';
import { reconnectDelay, type BackoffPolicy } from './backoff.ts';
import { httpBaseOf, SseTransport } from './sse-transport.ts';
import type { ClientState, RequestBody, SubscribeOptions, Subscription, Transport, TransportEvents, TransportKind } from './transport.ts';
import { WsTransport, type WebSocketFactory } from './ws-transport.ts';

export type { SubscribeOptions, TransportKind } from './transport.ts';
export type { WebSocketFactory, WebSocketLike } from './ws-transport.ts';

/** A WebSocket upgrade still unanswered after this many open timeouts is given up (and retried later). */
const WS_GIVE_UP_FACTOR = 4;

export type ClientStatus = 'connecting' | 'open' | 'closed';
/** The transport data flows over now: a WebSocket, the SSE fallback, or none. */
export type LiveTransport = TransportKind | 'offline';

export interface HubClientOptions {
  /** App-mode endpoint, e.g. `ws://127.0.0.1:5000/ws`. The fallback uses the same host over HTTP. */
  url: string;
  /** Publish key or token, sent as `?token=` (on the WebSocket, the SSE stream and HTTP requests). */
  token?: string;
  /**
   * Called when the hub says the credential is `expiring`: the fresh token it returns is sent with
   * `auth` on the open connection (no reconnect; on SSE the stream reopens with it, resuming) and
   * used for later reconnects. If it throws, rejects or is absent, nothing changes: the hub closes
   * 4001 at expiry and the client reconnects.
   */
  getToken?: () => string | Promise<string>;
  /** Defaults to the global `WebSocket` (browsers); pass one built on `ws` in Node 20. */
  connect?: WebSocketFactory;
  /**
   * Fall back to SSE + HTTP when a WebSocket cannot open (default true). `false`: WebSocket only,
   * e.g. for a producer whose rate HTTP publishing would not carry.
   */
  fallback?: boolean;
  /**
   * With `fallback`: a WebSocket that has not welcomed after this long (default 4000 ms) starts
   * the SSE fallback (the upgrade may still complete and take over; it is given up at 4x); an SSE
   * stream that has not welcomed after this long counts as failed.
   */
  openTimeoutMs?: number;
  /**
   * With `fallback`, once a WebSocket has welcomed: how long reconnects stay WebSocket-only
   * (failed or slow upgrades retried with backoff) before the SSE fallback may open again
   * (default 30000 ms). Upgrades were seen to pass, so a short outage is the hub restarting or
   * busy, not a proxy; 0 falls back at once as on the first connect.
   */
  fallbackGraceMs?: number;
  /**
   * First reconnect delay; doubles up to `maxBackoffMs`, with full jitter, but never beyond how
   * long the hub has been out of reach (backoff.ts). Background WebSocket retries from the SSE
   * fallback double the same way, without that bound.
   */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Called on every status change; `attempt` counts reconnect attempts since the last open. */
  onStatus?: (status: ClientStatus, attempt: number) => void;
  /** Called when the live transport changes: 'ws', 'sse' (the fallback) or 'offline'. */
  onTransport?: (transport: LiveTransport) => void;
  /** Called on each welcome frame (first connect, every reconnect, every switch of transport). */
  onWelcome?: (welcome: WelcomeFrame) => void;
}

/**
 * @example
 * const hub = new HubClient({ url: 'ws://127.0.0.1:5000/ws', connect: (u, p) => new WebSocket(u, p) });
 * hub.subscribe('ticks.*', (m) => console.log(m.topic, m.data), { snapshot: 1 });
 * await hub.publish('chat', { nick: 'bot', text: 'hello' });
 */
export class HubClient {
  private readonly subs = new Map<string, Subscription>();
  /** The transport in use (it welcomed), null while offline. */
  private live: Transport | null = null;
  /** The WebSocket being opened, or the live one. */
  private ws: WsTransport | null = null;
  /** The SSE transport being opened, or the live one. */
  private sse: SseTransport | null = null;
  private attempt = 0;
  /** WebSocket retries since the client went to SSE. */
  private probeAttempt = 0;
  private epoch: string | null = null;
  /** A WebSocket has welcomed on this client: upgrades are not stripped on the way to the hub. */
  private wsWorked = false;
  /** When the WebSocket in use dropped (Date.now()), null while one is open. */
  private wsDownSince: number | null = null;
  /** Since when no transport has been live (Date.now()): the outage the reconnect backoff is bounded by. */
  private unreachableSince: number | null = Date.now();
  private stopped = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private probeTimer: ReturnType<typeof setTimeout> | null = null;
  /** The token for the next connect: `options.token`, then the latest from `getToken`. */
  private token: string | undefined;
  /** A getToken call in flight: one refresh at a time. */
  private refreshing = false;
  private readonly backoffPolicy: BackoffPolicy;
  private readonly openTimeoutMs: number;
  private readonly fallbackGraceMs: number;
  private readonly httpBase: string;
  private readonly state: ClientState;
  status: ClientStatus = 'closed';
  transport: LiveTransport = 'offline';

  constructor(private readonly options: HubClientOptions) {
    const minMs = options.minBackoffMs ?? 250;
    const maxMs = options.maxBackoffMs ?? 10_000;
    this.openTimeoutMs = options.openTimeoutMs ?? 4000;
    this.fallbackGraceMs = options.fallbackGraceMs ?? 30_000;
    this.token = options.token;
    if (!(minMs > 0 && maxMs >= minMs)) throw new RangeError('HubClient: need 0 < minBackoffMs <= maxBackoffMs');
    this.backoffPolicy = { minMs, maxMs };
    if (!(this.openTimeoutMs > 0)) throw new RangeError('HubClient: need openTimeoutMs > 0');
    if (!(this.fallbackGraceMs >= 0)) throw new RangeError('HubClient: need fallbackGraceMs >= 0');
    this.httpBase = httpBaseOf(options.url);
    const client = this;
    this.state = {
      subs: this.subs,
      get epoch() {
        return client.epoch;
      },
      get token() {
        return client.token;
      },
    };
    this.connect();
  }

  /** Subscribe to a topic or pattern; returns a function that unsubscribes. One handler per pattern. */
  subscribe(pattern: string, onMessage: (msg: HubMessage) => void, options: SubscribeOptions = {}): () => void {
    const sub: Subscription = { pattern, onMessage, options, lastSeq: new Map(), lastTs: new Map() };
    this.subs.set(pattern, sub);
    // A WebSocket that has not welcomed subscribes everything then; an SSE stream reopens now.
    (this.live ?? this.sse)?.subscribed(sub);
    return () => {
      if (this.subs.get(pattern) !== sub) return;
      this.subs.delete(pattern);
      (this.live ?? this.sse)?.unsubscribed(pattern);
    };
  }

  /** Publish; resolves with the seq the hub assigned. Rejects at once while disconnected. Over SSE it is an HTTP POST. */
  async publish(topic: string, data: unknown): Promise<{ seq: number; ts: number }> {
    const reply = await this.request({ op: 'pub', topic, data });
    return { seq: reply.seq as number, ts: reply.ts as number };
  }

  /** A page of a topic's history. */
  async history(topic: string, opts: { since?: number; limit?: number } = {}): Promise<HubMessage[]> {
    const reply = await this.request({ op: 'history', topic, ...opts });
    return reply.messages as HubMessage[];
  }

  /** Send any request; resolves with the ok reply, rejects with a HubError. Over SSE: `pub`, `history` and `auth` only. */
  request(body: RequestBody): Promise<OkReply> {
    if (!this.live || this.status !== 'open') return Promise.reject(new HubError('unavailable', 'not connected to the hub'));
    return this.live.request(body);
  }

  /** Stop for good: closes the connection and cancels reconnects. */
  close(): void {
    this.stopped = true;
    this.clearTimer('reconnectTimer');
    this.clearTimer('probeTimer');
    this.ws?.close();
    this.sse?.close();
    this.ws = this.sse = this.live = null;
    this.setStatus('closed');
  }

  /** One round: a WebSocket first; with `fallback`, SSE when it fails to open. */
  private connect(): void {
    this.setStatus('connecting');
    this.openWs();
  }

  private openWs(): void {
    let opened = false;
    const events = this.eventsFor(() => this.ws === ws, {
      welcome: (frame) => {
        opened = true;
        // Back from the fallback: the SSE stream stops where the WebSocket resumes from.
        this.sse?.close();
        this.sse = null;
        this.clearTimer('probeTimer');
        this.clearTimer('reconnectTimer');
        this.probeAttempt = 0;
        this.wsWorked = true;
        this.wsDownSince = null;
        this.adopt(ws!, frame);
      },
      closed: (welcomed) => {
        this.ws = null;
        if (welcomed) this.lost();
        else this.wsFailed();
      },
    });
    const ws = WsTransport.open(this.options.url, this.options.connect, this.state, events);
    this.ws = ws;
    if (!ws) return this.wsFailed();
    const pending = () => !opened && this.ws === ws;
    // Slow is not failed: the fallback starts, and the upgrade may still win (it then takes over).
    this.openTimeout(pending, () => {
      if (!this.live && !this.sse && !this.reconnectTimer && this.mayFallBack()) this.openSse();
    });
    this.openTimeout(pending, () => {
      ws.close();
      this.ws = null;
      this.wsFailed();
    }, WS_GIVE_UP_FACTOR);
  }

  /** A WebSocket did not open: retry it later; on the fallback meanwhile, if allowed. */
  private wsFailed(): void {
    if (this.stopped) return;
    if (this.live?.kind === 'sse') return this.scheduleProbe(); // a background retry failed
    if (this.sse || this.reconnectTimer) return; // the SSE stream is reopening; its welcome retries the WebSocket
    if (!this.mayFallBack()) return this.scheduleReconnect();
    this.openSse();
  }

  private openSse(): void {
    let opened = false;
    const events = this.eventsFor(() => this.sse === sse, {
      welcome: (frame) => {
        opened = true;
        this.adopt(sse, frame);
        this.scheduleProbe();
      },
      closed: (welcomed) => {
        this.sse = null;
        if (welcomed) this.sseLost(sse.retryMs);
        else this.sseFailed();
      },
    });
    const sse = new SseTransport(this.httpBase, this.state, events);
    this.sse = sse;
    this.openTimeout(() => !opened && this.sse === sse, () => {
      sse.close();
      this.sse = null;
      this.sseFailed();
    });
  }

  /** The SSE stream in use dropped (hub restart, drain): reopen it, resuming; WebSocket retries go on. */
  private sseLost(retryMs: number | null): void {
    this.unreachableSince ??= Date.now();
    this.setStatus('closed');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.stopped) return;
      this.setStatus('connecting');
      this.openSse();
    }, Math.max(retryMs ?? 0, this.reconnectBackoff()));
  }

  /** Neither transport opens: the hub is down or refuses; start over with the WebSocket. */
  private sseFailed(): void {
    this.clearTimer('probeTimer');
    this.ws?.close();
    this.ws = null;
    this.scheduleReconnect();
  }

  /** The events of one transport; `current` says it is still the one the client holds. */
  private eventsFor(current: () => boolean, own: Pick<TransportEvents, 'welcome' | 'closed'>): TransportEvents {
    return {
      welcome: (frame) => current() && own.welcome(frame),
      closed: (welcomed) => {
        if (current() && !this.stopped) own.closed(welcomed);
      },
      message: (msg) => current() && this.onMessage(msg),
      reset: (frame) => current() && this.onReset(frame),
      expiring: (frame) => current() && this.onExpiring(frame),
    };
  }

  /**
   * May the SSE fallback open now? Always before any WebSocket welcomed. After one did, upgrades
   * pass this network, so a WebSocket that fails or is slow to reopen means the hub is down or
   * busy (a restart, every client reconnecting at once): the client retries the WebSocket with
   * backoff for `fallbackGraceMs` before it suspects a new proxy. An SSE stream beside each
   * pending upgrade would double the load of a reconnect storm (bench: 21.7 s vs 15.3 s to
   * resume 10,000 clients).
   */
  private mayFallBack(): boolean {
    if (this.options.fallback === false) return false;
    if (!this.wsWorked) return true;
    return Date.now() - (this.wsDownSince ?? 0) >= this.fallbackGraceMs;
  }

  /** Run `expire` if `pending()` still holds after `factor` open timeouts. */
  private openTimeout(pending: () => boolean, expire: () => void, factor = 1): void {
    if (this.options.fallback === false) return; // WebSocket only: it may take as long as it takes
    setTimeout(() => {
      if (pending() && !this.stopped) expire();
    }, this.openTimeoutMs * factor);
  }

  /** `transport` welcomed: it is the one in use; (re)subscribe on it. */
  private adopt(transport: Transport, welcome: WelcomeFrame | null): void {
    this.live = transport;
    this.attempt = 0;
    this.unreachableSince = null;
    this.setStatus('open');
    this.setTransport(transport.kind);
    if (!welcome) return;
    const epochChanged = this.epoch !== null && this.epoch !== welcome.epoch;
    this.options.onWelcome?.(welcome);
    transport.resubscribe(welcome, epochChanged);
    this.epoch = welcome.epoch;
  }

  /** The WebSocket in use dropped: reconnect with backoff, the WebSocket first. */
  private lost(): void {
    this.live = null;
    this.wsDownSince ??= Date.now();
    this.unreachableSince ??= Date.now();
    this.scheduleReconnect();
  }

  /** Refresh the credential in place: a fresh token from `getToken`, sent with `auth`. */
  private onExpiring(_frame: ExpiringFrame): void {
    const getToken = this.options.getToken;
    if (!getToken || this.refreshing) return;
    this.refreshing = true;
    const transport = this.live;
    void (async () => {
      try {
        const token = await getToken();
        if (typeof token !== 'string' || token === '' || this.stopped) return;
        this.token = token;
        if (transport && this.live === transport) await this.request({ op: 'auth', token });
      } catch (err) {
        console.error('tickhub client: refreshing the credential failed; the hub will close at expiry and the client reconnect', err);
      } finally {
        this.refreshing = false;
      }
    })();
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

  private scheduleReconnect(): void {
    this.setStatus('closed');
    const delay = this.reconnectBackoff();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.stopped) this.connect();
    }, delay);
  }

  /** On SSE: try the WebSocket again later (it switches over when it opens). */
  private scheduleProbe(): void {
    if (this.stopped || this.probeTimer || this.ws) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      if (!this.stopped && this.live?.kind === 'sse' && !this.ws) this.openWs();
    }, reconnectDelay(this.backoffPolicy, this.probeAttempt++, Infinity, Math.random())); // the hub is reachable: no outage bound
  }

  /** The next reconnect attempt's delay, bounded by the outage so far. */
  private reconnectBackoff(): number {
    const outageMs = Date.now() - (this.unreachableSince ?? Date.now());
    return reconnectDelay(this.backoffPolicy, this.attempt++, outageMs, Math.random());
  }

  private clearTimer(name: 'reconnectTimer' | 'probeTimer'): void {
    const timer = this[name];
    if (timer) clearTimeout(timer);
    this[name] = null;
  }

  private setStatus(status: ClientStatus): void {
    if (status !== 'open') {
      this.live = null;
      this.setTransport('offline');
    }
    if (this.status === status) return;
    this.status = status;
    this.options.onStatus?.(status, this.attempt);
  }

  private setTransport(transport: LiveTransport): void {
    if (this.transport === transport) return;
    this.transport = transport;
    this.options.onTransport?.(transport);
  }
}
