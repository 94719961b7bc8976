/**
 * HubClient's fallback transport, for networks that strip `Upgrade`: data over one Server-Sent
 * Events stream (`GET /sse/<every pattern>`, docs/protocol.md), requests over plain HTTP
 * (`POST /api/publish/<topic>`, `GET /api/history/<topic>`).
 *
 * The stream is read with fetch() rather than EventSource: fetch is in browsers and Node 20
 * alike (no implementation to inject), it shows a refusal's status and JSON body, and the
 * client reconnects it itself with its own per-topic positions (EventSource would reconnect on
 * its own, to a URL that can no longer change, with only its last event id).
 *
 * One stream carries every subscription, so a page holds one connection however many it has
 * (browsers allow six per host over HTTP/1.1). The stream's options are therefore shared:
 * `snapshot` is the largest any subscription asks for, and `maxHz` applies only when every
 * subscription asks the same. A change of subscriptions reopens the stream, resuming.
 */
import { HubError, ERROR_CODES, type ErrorCode } from '../protocol/errors.ts';
import { matches, topicError } from '../protocol/topics.ts';
import type { OkReply, ServerFrame, WelcomeFrame } from '../protocol/wire.ts';
import { EventStreamParser } from './event-stream.ts';
import { forgetPositions, sinceOf, type ClientState, type RequestBody, type Subscription, type Transport, type TransportEvents } from './transport.ts';

/** The `since` list rides in the URL: keep it well under the hub's 16 KiB header limit. */
const MAX_SINCE_CHARS = 6000;

/**
 * The HTTP base of the hub behind an app-mode WebSocket URL: `ws://h:5000/ws` -> `http://h:5000`
 * (a path prefix before `/ws` is kept, so a hub mounted under `/hub/ws` is reached under `/hub`).
 */
export function httpBaseOf(wsUrl: string): string {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol;
  url.search = '';
  url.hash = '';
  url.pathname = url.pathname.replace(/\/ws\/?$/, '');
  return url.toString().replace(/\/$/, '');
}

export class SseTransport implements Transport {
  readonly kind = 'sse';
  /** The stream being read, null while there is none (no subscriptions). */
  private stream: AbortController | null = null;
  /** The subscriptions the current stream was opened with. */
  private streamSubs: Subscription[] = [];
  private reopenQueued = false;
  /** It reported `welcome` (the client uses it). */
  private live = false;
  private ended = false;
  /** The `retry:` the hub asked for, in ms. */
  retryMs: number | null = null;

  /** Starts at once: the stream, or with no subscriptions a check that the hub answers HTTP. */
  constructor(
    private readonly base: string,
    private readonly state: ClientState,
    private readonly events: TransportEvents,
  ) {
    if (!this.open()) void this.checkReachable();
  }

  /** After the client took a welcome: positions of another epoch are void; new ones start at `ts`. */
  resubscribe(welcome: WelcomeFrame, epochChanged: boolean): void {
    if (epochChanged) for (const sub of this.state.subs.values()) forgetPositions(sub);
    for (const sub of this.streamSubs) {
      if (this.state.subs.get(sub.pattern) === sub) sub.sinceTs ??= welcome.ts;
    }
  }

  subscribed(): void {
    this.queueReopen();
  }

  unsubscribed(): void {
    this.queueReopen();
  }

  request(body: RequestBody): Promise<OkReply> {
    if (this.ended) return Promise.reject(new HubError('unavailable', 'not connected to the hub'));
    switch (body.op) {
      case 'pub':
        return this.http('POST', `/api/publish/${body.topic}`, {}, JSON.stringify(body.data));
      case 'history':
        return this.http('GET', `/api/history/${body.topic}`, { since: body.since, limit: body.limit });
      case 'auth':
        // The stream carries the credential in its URL: reopen it (resuming) with the new one.
        this.queueReopen();
        return Promise.resolve({ op: 'ok', id: 0 });
      default:
        return Promise.reject(new HubError('unavailable', `'${body.op}' needs the WebSocket; the client is on its SSE fallback`));
    }
  }

  close(): void {
    this.ended = true;
    this.stream?.abort();
    this.stream = null;
  }

  /** Subscriptions change in bursts (a page subscribes to everything at once): one reopen per burst. */
  private queueReopen(): void {
    if (this.reopenQueued || this.ended) return;
    this.reopenQueued = true;
    setTimeout(() => {
      this.reopenQueued = false;
      if (this.ended) return;
      this.stream?.abort();
      this.stream = null;
      this.open();
    }, 0);
  }

  /** Opens the stream of the current subscriptions; false when there is none to open. */
  private open(): boolean {
    // A pattern the hub would refuse must not take the stream of every other one down with it
    // (over the WebSocket only its own `sub` is refused): it gets nothing, as there.
    this.streamSubs = [...this.state.subs.values()].filter((s) => topicError(s.pattern, true) === null);
    if (this.streamSubs.length === 0) return false;
    const ctrl = new AbortController();
    this.stream = ctrl;
    void this.read(ctrl, this.streamUrl(this.streamSubs));
    return true;
  }

  /** Patterns and resume positions as a tap URL takes them (docs/protocol.md#resuming). */
  private streamUrl(subs: Subscription[]): string {
    const url = new URL(`${this.base}/sse/${subs.map((s) => s.pattern).join(',')}`);
    const q = url.searchParams;
    if (this.state.token) q.set('token', this.state.token);
    const snapshot = Math.max(0, ...subs.map((s) => s.options.snapshot ?? 0));
    if (snapshot > 0) q.set('snapshot', String(snapshot));
    const rates = new Set(subs.map((s) => s.options.maxHz ?? 0));
    const [rate] = rates;
    if (rates.size === 1 && rate > 0) q.set('maxHz', String(rate));
    const resumed = subs.filter((s) => s.sinceTs !== undefined);
    if (resumed.length === 0) return url.toString();
    // Topics a new subscription matches replay from sinceTs for it; the others skip copies by seq.
    const fresh = subs.filter((s) => s.sinceTs === undefined);
    const positions = new Map<string, number>();
    for (const sub of resumed) {
      for (const [topic, seq] of sub.lastSeq) {
        if (fresh.some((f) => matches(f.pattern, topic))) continue;
        const known = positions.get(topic);
        if (known === undefined || seq < known) positions.set(topic, seq);
      }
    }
    const since = Object.entries(sinceOf(positions, MAX_SINCE_CHARS));
    if (since.length > 0) q.set('since', since.map(([topic, seq]) => `${topic}:${seq}`).join(','));
    q.set('sinceTs', String(Math.min(...resumed.map((s) => s.sinceTs!))));
    if (this.state.epoch !== null) q.set('epoch', this.state.epoch);
    return url.toString();
  }

  private async read(ctrl: AbortController, url: string): Promise<void> {
    try {
      const res = await fetch(url, { headers: { accept: 'text/event-stream' }, cache: 'no-store', signal: ctrl.signal });
      if (!res.ok || !res.body) throw await refusalOf(res);
      const reader = res.body.getReader();
      // Aborting the fetch does not always settle a pending read (undici): cancel it as well.
      const cancel = () => void reader.cancel().catch(() => {});
      if (ctrl.signal.aborted) cancel();
      else ctrl.signal.addEventListener('abort', cancel, { once: true });
      const parser = new EventStreamParser({
        event: (ev) => this.onEvent(ev.event, ev.data, ctrl),
        retry: (ms) => (this.retryMs = ms),
      });
      const decoder = new TextDecoder();
      while (this.stream === ctrl && !ctrl.signal.aborted) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.push(decoder.decode(value, { stream: true }));
      }
    } catch {
      // refused or broken: both end the stream below
    }
    ctrl.abort();
    if (this.stream === ctrl) this.end();
  }

  private onEvent(event: string, data: string, ctrl: AbortController): void {
    if (this.stream !== ctrl || ctrl.signal.aborted) return;
    if (event === 'close') return void ctrl.abort(); // the hub ends the stream next: reconnect now
    let frame: ServerFrame;
    try {
      frame = JSON.parse(data) as ServerFrame;
    } catch {
      return;
    }
    if (!('op' in frame)) return this.events.message(frame);
    switch (frame.op) {
      case 'welcome':
        return this.onWelcome(frame);
      case 'reset':
        return this.events.reset(frame);
      case 'expiring':
        return this.events.expiring(frame);
    }
  }

  /** A reopened stream of the same hub just goes on; the first welcome, or another epoch, is the client's. */
  private onWelcome(welcome: WelcomeFrame): void {
    if (this.live && welcome.epoch === this.state.epoch) return this.resubscribe(welcome, false);
    this.live = true;
    this.events.welcome(welcome);
  }

  /**
   * With no subscription there is no stream: the transport is up once `/healthz` answers as a
   * hub does (`{"status":..}`, 200 or 503), not merely once something answers HTTP.
   */
  private async checkReachable(): Promise<void> {
    let isHub = false;
    try {
      const res = await fetch(`${this.base}/healthz`, { cache: 'no-store' });
      const body = (await res.json()) as { status?: unknown };
      isHub = (res.ok || res.status === 503) && typeof body.status === 'string';
    } catch {
      /* not reachable, or not a hub */
    }
    if (this.ended) return;
    if (!isHub) return this.end();
    this.live = true;
    this.events.welcome(null);
  }

  private end(): void {
    this.stream = null;
    if (this.ended) return;
    this.ended = true;
    this.events.closed(this.live);
  }

  /** One HTTP request, its JSON answer as an ok reply; refusals reject with the hub's HubError. */
  private async http(method: 'GET' | 'POST', path: string, query: Record<string, number | undefined>, body?: string): Promise<OkReply> {
    const url = new URL(`${this.base}${path}`);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    if (this.state.token) url.searchParams.set('token', this.state.token);
    let res: Response;
    try {
      res = await fetch(url, { method, body, cache: 'no-store', headers: body === undefined ? {} : { 'content-type': 'application/json' } });
    } catch (err) {
      throw new HubError('unavailable', `the hub did not answer over HTTP (${err instanceof Error ? err.message : String(err)})`);
    }
    if (!res.ok) throw await refusalOf(res);
    return { op: 'ok', id: 0, ...((await res.json()) as Record<string, unknown>) };
  }
}

/** The hub's `{error:{code,message}}` as a HubError, or one naming the status. */
async function refusalOf(res: Response): Promise<HubError> {
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    const code = body.error?.code;
    if (code !== undefined && Object.hasOwn(ERROR_CODES, code)) return new HubError(code as ErrorCode, body.error?.message ?? `HTTP ${res.status}`);
  } catch {
    /* not JSON */
  }
  return new HubError(res.status >= 500 ? 'unavailable' : 'bad_request', `the hub answered HTTP ${res.status}`);
}
