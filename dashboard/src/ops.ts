/**
 * Ops panel: the hub's own telemetry (`$sys.stats`, once a second: connections, message rates,
 * drops, event-loop lag, memory, the slowest consumers) next to the end-to-end latency this
 * dashboard measures itself (hub `ts` to the frame that rendered the message, from Health).
 *
 * Each tile carries its main figure as `data-value` (a plain number) for tests and tooling;
 * `data-tone` is `ok`, `warn` or `bad`.
 */
import type { SysStats } from '../../protocol/sys-stats.ts';
import { el, setText } from './dom.ts';
import { fmtBytes, fmtDuration, fmtQty } from './format.ts';
import { invalidate } from './frame.ts';

/** Seconds of history in the sparklines. */
const SPARK_POINTS = 60;
/** No `$sys.stats` for this long and the figures are marked stale. */
const STALE_MS = 3500;

type Tone = 'ok' | 'warn' | 'bad';

/** Latency percentiles of recent messages (ms), null without samples. */
export interface LatencySource {
  latency(p: number): number | null;
  readonly latencySamples: number;
}

class Tile {
  private readonly value: HTMLElement;
  private readonly sub: HTMLElement;
  private readonly line: SVGPolylineElement | null;
  private readonly history: number[] = [];

  constructor(readonly node: HTMLElement) {
    this.value = node.querySelector('.ot-v')!;
    this.sub = node.querySelector('.ot-s')!;
    this.line = node.querySelector('polyline');
  }

  set(value: number | null, text: string, sub: string, tone: Tone = 'ok'): void {
    setText(this.value, text);
    setText(this.sub, sub);
    const v = value === null ? '' : String(value);
    if (this.node.dataset.value !== v) this.node.dataset.value = v;
    if (this.node.dataset.tone !== tone) this.node.dataset.tone = tone;
  }

  /** Add a sparkline point (one per second) and redraw the line, scaled to its own maximum. */
  push(v: number): void {
    if (!this.line) return;
    this.history.push(Number.isFinite(v) ? Math.max(0, v) : 0);
    if (this.history.length > SPARK_POINTS) this.history.shift();
    const max = Math.max(...this.history, 1e-9);
    const offset = SPARK_POINTS - this.history.length;
    const pts = this.history.map((y, i) => `${offset + i},${(19.5 - (y / max) * 18).toFixed(1)}`);
    this.line.setAttribute('points', pts.join(' '));
  }
}

const fmtMs = (ms: number | null | undefined) =>
  ms === null || ms === undefined || !Number.isFinite(ms) ? '—' : ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;

/** Compact ms for the sub-lines (the unit is in the main figure): 0.1, 24, 1.2k. */
const fmtMsShort = (ms: number | null | undefined) =>
  ms === null || ms === undefined || !Number.isFinite(ms) ? '—' : ms < 10 ? ms.toFixed(1) : ms < 10_000 ? String(Math.round(ms)) : `${(ms / 1000).toFixed(1)}k`;

/** Compact bytes: 850B, 12K, 73M, 1.2G. */
function fmtBytesShort(n: number | null): string {
  if (n === null) return '—';
  const units = ['B', 'K', 'M', 'G'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 && u > 0 ? v.toFixed(1) : Math.round(v)}${units[u]}`;
}

/** `app 2·line 1·sse 1`: the modes with connections (`sse` is absent from older hubs' stats). */
const modes = (c: { app: number; line: number; tap: number; sse?: number }) =>
  (['app', 'line', 'tap', 'sse'] as const).filter((m) => (c[m] ?? 0) > 0).map((m) => `${m} ${c[m]}`).join('·') || 'none';

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** `$sys.stats` payloads are the hub's; accept anything object-shaped and read fields defensively. */
function isStatsLike(v: unknown): v is Partial<SysStats> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class OpsPanel {
  private readonly tiles: Record<'conn' | 'in' | 'out' | 'drops' | 'lag' | 'latency' | 'memory' | 'subs', Tile>;
  private stats: Partial<SysStats> | null = null;
  private prev: Partial<SysStats> | null = null;
  private receivedAt = 0;
  private fresh = false;
  /** The node this page is connected to; in a cluster every node publishes `$sys.stats`. */
  private node: string | null = null;
  private readonly slowRows = new Map<string, HTMLTableRowElement>();
  private readonly emptyRow: HTMLTableRowElement;
  private readonly render = () => this.apply();

  constructor(
    private readonly root: HTMLElement,
    private readonly head: HTMLElement,
    private readonly slowest: HTMLTableSectionElement,
    private readonly latency: LatencySource,
  ) {
    const tile = (id: string) => new Tile(root.querySelector<HTMLElement>(`[data-testid="${id}"]`)!);
    this.tiles = {
      conn: tile('ops-connections'),
      in: tile('ops-rate-in'),
      out: tile('ops-rate-out'),
      drops: tile('ops-drops'),
      lag: tile('ops-lag'),
      latency: tile('ops-latency'),
      memory: tile('ops-memory'),
      subs: tile('ops-subs'),
    };
    this.emptyRow = el('tr', { class: 'none' }, el('td', { colspan: '5' }, 'no unsent bytes: every consumer keeps up'));
    slowest.append(this.emptyRow);
    // The latency tile and staleness move with the clock, not only with $sys.stats.
    setInterval(() => this.second(), 1000);
  }

  /** The welcome named the node serving this page (it changes if a reconnect lands elsewhere). */
  setNode(node: string): void {
    if (node === this.node) return;
    this.node = node;
    this.prev = null;
    this.stats = null;
  }

  /** A `$sys.stats` message; other nodes' figures are ignored. */
  onStats(data: unknown): void {
    if (!isStatsLike(data)) return;
    if (this.node !== null && data.node !== this.node) return;
    this.prev = this.stats;
    this.stats = data;
    this.receivedAt = Date.now();
    this.fresh = true;
    invalidate(this.render);
  }

  private second(): void {
    const p50 = this.latency.latency(0.5);
    this.tiles.latency.push(p50 ?? 0);
    this.renderLatency();
    invalidate(this.render);
  }

  private apply(): void {
    const s = this.stats;
    const stale = s !== null && Date.now() - this.receivedAt > STALE_MS;
    this.root.classList.toggle('stale', stale || s === null);
    this.renderLatency();
    if (!s) return;
    const ago = Math.round((Date.now() - this.receivedAt) / 1000);
    setText(this.head, stale ? `stale · last stats ${ago} s ago` : `hub up ${fmtDuration((num(s.uptimeSeconds) ?? 0) * 1000)} · ${fmtQty(num(s.messagesIn))} msgs in`);
    if (!this.fresh) return;
    this.fresh = false;
    const t = this.tiles;

    const c = s.connections;
    t.conn.set(num(c?.total), fmtQty(num(c?.total)), c ? modes(c) : '—');

    const rateIn = num(s.rateIn);
    t.in.set(rateIn, fmtQty(rateIn), `Σ ${fmtQty(num(s.messagesIn))}`);
    t.in.push(rateIn ?? 0);

    const rateOut = num(s.rateOut);
    const p = this.prev;
    const dt = p && num(p.ts) !== null && num(s.ts) !== null ? (s.ts! - p.ts!) / 1000 : 0;
    const bytesRate = dt > 0 && num(p?.bytesOut) !== null && num(s.bytesOut) !== null ? Math.max(0, (s.bytesOut! - p!.bytesOut!) / dt) : null;
    t.out.set(rateOut, fmtQty(rateOut), bytesRate === null ? `Σ ${fmtBytesShort(num(s.bytesOut))}` : `${fmtBytesShort(Math.round(bytesRate))}/s`);
    t.out.push(rateOut ?? 0);

    const conflated = num(s.conflated) ?? 0;
    const closes = num(s.slowConsumerCloses) ?? 0;
    const newConflated = p ? conflated - (num(p.conflated) ?? 0) : 0;
    const newCloses = p ? closes - (num(p.slowConsumerCloses) ?? 0) : 0;
    t.drops.set(
      conflated + closes,
      fmtQty(conflated),
      `${newConflated > 0 ? `+${fmtQty(newConflated)} · ` : ''}${fmtQty(closes)} closed`,
      newCloses > 0 ? 'bad' : newConflated > 0 ? 'warn' : 'ok',
    );

    const lag = s.eventLoopLagMs;
    const p99 = num(lag?.p99);
    t.lag.set(p99, fmtMs(p99), lag ? `p50 ${fmtMsShort(lag.p50)} max ${fmtMsShort(lag.max)}` : '—', p99 === null ? 'ok' : p99 > 200 ? 'bad' : p99 > 50 ? 'warn' : 'ok');
    t.lag.push(p99 ?? 0);

    const rss = num(s.memory?.rssBytes);
    t.memory.set(rss, rss === null ? '—' : fmtBytes(rss), `heap ${fmtBytesShort(num(s.memory?.heapUsedBytes))}`);

    const subs = num(s.subscriptions);
    t.subs.set(subs, fmtQty(subs), `up ${fmtDuration((num(s.uptimeSeconds) ?? 0) * 1000)}`);

    this.renderSlowest(Array.isArray(s.slowest) ? s.slowest : []);
  }

  private renderLatency(): void {
    const p50 = this.latency.latency(0.5);
    const p95 = this.latency.latency(0.95);
    const p99 = this.latency.latency(0.99);
    this.tiles.latency.set(
      p50 === null ? null : Math.round(p50 * 10) / 10,
      fmtMs(p50),
      p50 === null ? 'no samples' : `p95 ${fmtMsShort(p95)} p99 ${fmtMsShort(p99)}`,
      p50 === null ? 'ok' : p50 > 250 ? 'bad' : p50 > 100 ? 'warn' : 'ok',
    );
  }

  private renderSlowest(list: SysStats['slowest']): void {
    const seen = new Set<string>();
    let prev: HTMLTableRowElement | null = null;
    for (const c of list.slice(0, 5)) {
      seen.add(c.id);
      let row = this.slowRows.get(c.id);
      if (!row) {
        row = el('tr', { 'data-conn': c.id }, el('td', { class: 'id' }), el('td'), el('td', { class: 'remote' }), el('td', { class: 'num' }), el('td', { class: 'num' }));
        this.slowRows.set(c.id, row);
      }
      const want: Node | null = prev ? prev.nextSibling : this.slowest.firstChild;
      if (want !== row) this.slowest.insertBefore(row, want);
      const cells = row.cells;
      setText(cells[0], c.id);
      setText(cells[1], c.mode);
      setText(cells[2], c.remote);
      cells[2].title = c.remote;
      setText(cells[3], fmtBytes(c.outboxBytes));
      setText(cells[4], fmtQty(c.dropped));
      cells[4].className = c.dropped > 0 ? 'num down' : 'num';
      prev = row;
    }
    for (const [id, row] of this.slowRows) {
      if (!seen.has(id)) {
        row.remove();
        this.slowRows.delete(id);
      }
    }
    this.emptyRow.hidden = seen.size > 0;
    if (seen.size === 0 && this.emptyRow.parentNode !== this.slowest) this.slowest.append(this.emptyRow);
  }
}
