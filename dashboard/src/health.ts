/**
 * Connection state and end-to-end health: hub `ts` of each message versus Date.now() when the
 * frame that shows it is rendered (median of recent samples), message rate, per-feed counts.
 */
import type { ClientStatus, LiveTransport } from '../../client/hub-client.ts';
import type { HubMessage, WelcomeFrame } from '../../protocol/wire.ts';
import { el, setSign, setText } from './dom.ts';
import { fmtBytes, fmtDuration, fmtQty } from './format.ts';

const SAMPLES = 512;
/** After a (re)connect, messages older than this are a snapshot/resume replay, not live latency. */
const REPLAY_AGE_MS = 250;
const REPLAY_WINDOW_MS = 5000;

/** How the status bar names the live transport. */
const TRANSPORT_LABEL: Record<LiveTransport, string> = { ws: 'WS', sse: 'SSE fallback', offline: 'offline' };

export interface HealthElements {
  status: HTMLElement;
  statusText: HTMLElement;
  latency: HTMLElement;
  rate: HTMLElement;
  /** `<dl>` of connection facts in the ops panel. */
  facts: HTMLElement;
  /** `<tbody>` of per-feed counts. */
  feeds: HTMLTableSectionElement;
}

interface FeedStat {
  count: number;
  lastCount: number;
  rate: number;
  row: HTMLTableRowElement | null;
}

export class Health {
  state: ClientStatus = 'connecting';
  attempt = 0;
  transport: LiveTransport = 'offline';
  messages = 0;
  reconnects = 0;
  rate = 0;
  private welcome: WelcomeFrame | null = null;
  private openedAt: number | null = null;
  private lastCount = 0;
  private readonly pendingTs: number[] = [];
  private readonly samples = new Float64Array(SAMPLES);
  private sampleCount = 0;
  private sampleNext = 0;
  private replayUntil = 0;
  private readonly feeds = new Map<string, FeedStat>();
  private readonly factNodes = new Map<string, HTMLElement>();

  constructor(private readonly els: HealthElements) {
    setInterval(() => this.tick(), 1000);
    this.renderStatus();
  }

  setStatus(status: ClientStatus, attempt: number): void {
    this.state = status;
    this.attempt = attempt;
    if (status === 'open') this.openedAt = Date.now();
    else this.openedAt = null;
    this.renderStatus();
  }

  /** The client switched transport: the WebSocket, its SSE fallback, or none. */
  setTransport(transport: LiveTransport): void {
    this.transport = transport;
    this.renderStatus();
    this.renderFacts();
  }

  onWelcome(w: WelcomeFrame): void {
    if (this.welcome) this.reconnects++;
    this.welcome = w;
    this.replayUntil = Date.now() + REPLAY_WINDOW_MS;
    this.renderFacts();
  }

  /** Every hub message, as it arrives. */
  onMessage(msg: HubMessage): void {
    this.messages++;
    this.pendingTs.push(msg.ts);
    const family = msg.topic.startsWith('$sys.') ? msg.topic : msg.topic.split('.')[0];
    let f = this.feeds.get(family);
    if (!f) {
      f = { count: 0, lastCount: 0, rate: 0, row: null };
      this.feeds.set(family, f);
    }
    f.count++;
  }

  /** After a rendered frame: what arrived since the previous frame is now on screen. */
  frameRendered(now: number): void {
    const replay = now < this.replayUntil;
    for (const ts of this.pendingTs) {
      const age = now - ts;
      if (replay && age > REPLAY_AGE_MS) continue;
      this.samples[this.sampleNext] = Math.max(0, age);
      this.sampleNext = (this.sampleNext + 1) % SAMPLES;
      if (this.sampleCount < SAMPLES) this.sampleCount++;
    }
    this.pendingTs.length = 0;
  }

  /** Latency samples held (at most SAMPLES). */
  get latencySamples(): number {
    return this.sampleCount;
  }

  /** Percentile (0..1) of recent latency samples, null without samples. */
  latency(p: number): number | null {
    if (this.sampleCount === 0) return null;
    const sorted = Array.from(this.samples.subarray(0, this.sampleCount)).sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  }

  private tick(): void {
    this.rate = this.messages - this.lastCount;
    this.lastCount = this.messages;
    for (const f of this.feeds.values()) {
      f.rate = f.count - f.lastCount;
      f.lastCount = f.count;
    }
    // Backgrounded tabs get no frames: keep the buffer bounded.
    if (this.pendingTs.length > 10_000) this.pendingTs.length = 0;
    const p50 = this.latency(0.5);
    setText(this.els.latency, p50 === null ? '—' : p50 < 10 ? `${p50.toFixed(1)} ms` : `${Math.round(p50)} ms`);
    setSign(this.els.latency, p50 === null ? 'flat' : p50 > 250 ? 'down' : 'flat');
    setText(this.els.rate, `${fmtQty(this.rate)}/s`);
    this.renderStatus();
    this.renderFacts();
    this.renderFeeds();
  }

  private renderStatus(): void {
    const { status, statusText } = this.els;
    status.dataset.state = this.state;
    status.dataset.attempt = String(this.attempt);
    status.dataset.transport = this.transport;
    let text: string;
    if (this.state === 'open') text = `open · ${TRANSPORT_LABEL[this.transport]}`;
    else if (this.state === 'connecting') text = this.attempt > 0 ? `connecting · attempt ${this.attempt}` : 'connecting';
    else text = this.attempt > 0 ? `closed · retry ${this.attempt}` : 'closed';
    setText(statusText, text);
    const via = this.transport === 'sse' ? ' · WebSockets blocked: data over SSE, chat over HTTP; retrying WebSocket' : '';
    status.title = (this.welcome ? `hub epoch ${this.welcome.epoch} · role ${this.welcome.role}` : 'hub connection') + via;
  }

  private renderFacts(): void {
    // Latency percentiles are in the ops panel's e2e tile, the message rate in the header.
    const facts: [string, string][] = [
      ['state', this.state === 'open' || this.attempt === 0 ? this.state : `${this.state} #${this.attempt}`],
      ['transport', TRANSPORT_LABEL[this.transport]],
      ['up for', this.openedAt ? fmtDuration(Date.now() - this.openedAt) : '—'],
      ['reconnects', String(this.reconnects)],
      ['messages', fmtQty(this.messages)],
      ['epoch', this.welcome?.epoch ?? '—'],
      ['role', this.welcome?.role ?? '—'],
      ['max payload', this.welcome ? fmtBytes(this.welcome.maxPayload) : '—'],
    ];
    for (const [k, v] of facts) {
      let node = this.factNodes.get(k);
      if (!node) {
        node = el('dd', {});
        this.els.facts.append(el('dt', {}, k), node);
        this.factNodes.set(k, node);
      }
      setText(node, v);
    }
  }

  private renderFeeds(): void {
    const names = [...this.feeds.keys()].sort();
    for (const name of names) {
      const f = this.feeds.get(name)!;
      if (!f.row) {
        f.row = el('tr', {}, el('td', {}, name), el('td', { class: 'num' }), el('td', { class: 'num' }));
        const idx = names.indexOf(name);
        const next = names.slice(idx + 1).map((n) => this.feeds.get(n)!.row).find((r) => r);
        this.els.feeds.insertBefore(f.row, next ?? null);
      }
      setText(f.row.cells[1], `${fmtQty(f.rate)}/s`);
      setText(f.row.cells[2], fmtQty(f.count));
    }
  }
}
