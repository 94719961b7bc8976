/**
 * tickhub dashboard: wires the hub subscriptions to the stores and the panels.
 * Handlers only update stores and mark panels dirty; panels draw once per animation frame.
 */
import { HubClient, type LiveTransport } from '../../client/hub-client.ts';
import type { Bar, Fill, PnlSnapshot, Tick } from '../../protocol/feeds.ts';
import type { HubMessage, ResetFrame } from '../../protocol/wire.ts';
import { CandleChart, type TickhubProbe } from './candles.ts';
import { Backfill } from './backfill.ts';
import { ChatConsole } from './chat.ts';
import { byId } from './dom.ts';
import { FillsBlotter } from './fills.ts';
import { fmtTime } from './format.ts';
import { invalidate, onFrame } from './frame.ts';
import { Health } from './health.ts';
import { Legend } from './legend.ts';
import { Notices } from './notices.ts';
import { OpsPanel } from './ops.ts';
import { PnlPanel } from './pnl.ts';
import { MarketStore, symbolOf } from './store.ts';
import { Ticker } from './ticker.ts';
import { isBar, isFill, isPnl, isTick } from './validate.ts';

declare global {
  interface Window {
    __tickhub: TickhubProbe;
  }
}

const SYMBOL_KEY = 'tickhub.symbol';
/** How long after a reset a hole in the bars may still be filled by a re-publishing producer. */
const GAP_GRACE_MS = 3000;

const probe: TickhubProbe = {
  barsDrawn: 0,
  lastBarTime: null,
  messages: 0,
  symbol: null,
  chartFrames: 0,
  barTimes: () => (probe.symbol === null ? [] : (store.symbols.get(probe.symbol)?.bars.map((b) => b.time) ?? [])),
};
window.__tickhub = probe;

const store = new MarketStore();
const notices = new Notices(byId('notices'));

const health = new Health({
  status: byId('status'),
  statusText: byId('status-text'),
  latency: byId('latency'),
  rate: byId('rate'),
  facts: byId('ops-facts'),
  feeds: byId<HTMLTableSectionElement>('ops-feeds'),
});
onFrame((now) => health.frameRendered(now));

const legend = new Legend(
  {
    symbol: byId('q-symbol'),
    last: byId('q-last'),
    change: byId('q-change'),
    bid: byId('q-bid'),
    ask: byId('q-ask'),
    spread: byId('q-spread'),
    time: byId('q-time'),
    open: byId('q-open'),
    high: byId('q-high'),
    low: byId('q-low'),
    close: byId('q-close'),
    volume: byId('q-volume'),
  },
  store,
);

const chart = new CandleChart(
  byId('chart'),
  store,
  probe,
  (bar) => legend.hover(bar),
);

const ticker = new Ticker(byId('ticker'), byId<HTMLSelectElement>('symbol-select'), store, selectSymbol);

const pnl = new PnlPanel(
  {
    chart: byId('pnl-chart'),
    total: byId('pnl-total'),
    realized: byId('pnl-realized'),
    unrealized: byId('pnl-unrealized'),
    positions: byId<HTMLTableSectionElement>('positions-body'),
    empty: byId('positions-empty'),
  },
  store,
  selectSymbol,
  (sym) => store.symbols.get(sym)?.decimals ?? 2,
);

const blotter = new FillsBlotter(byId<HTMLTableSectionElement>('fills-body'), byId('fills-empty'), store, selectSymbol);
const ops = new OpsPanel(byId('ops-panel'), byId('ops-head'), byId<HTMLTableSectionElement>('ops-slowest-body'), health);

function selectSymbol(symbol: string): void {
  chart.setSymbol(symbol);
  backfill.request(symbol);
  legend.setSymbol(symbol);
  ticker.setSelected(symbol);
  pnl.select(symbol);
  try {
    localStorage.setItem(SYMBOL_KEY, symbol);
  } catch {
    /* storage disabled */
  }
  const url = new URL(location.href);
  if (url.searchParams.get('symbol') !== symbol) {
    url.searchParams.set('symbol', symbol);
    history.replaceState(null, '', url);
  }
}

const clock = byId('clock');
const tickClock = () => {
  clock.textContent = `${fmtTime(Date.now())} UTC`;
};
tickClock();
setInterval(tickClock, 1000);

function safeGet(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

const chatConsole = new ChatConsole(
  {
    log: byId('chat-log'),
    input: byId<HTMLInputElement>('chat-input'),
    nick: byId<HTMLInputElement>('chat-nick'),
    form: byId<HTMLFormElement>('chat-form'),
  },
  (data) => hub.publish('chat', data),
);

// ---- hub ----------------------------------------------------------------------------------

const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
/** The last transport data came over, so a chat line marks only real switches (not an outage). */
let lastLive: LiveTransport = 'offline';
const hub = new HubClient({
  url: wsUrl,
  // A trader's screen should be back within seconds of the hub; full jitter spreads the herd.
  maxBackoffMs: 3000,
  onTransport: (transport) => {
    health.setTransport(transport);
    if (transport === 'offline' || transport === lastLive) return;
    if (transport === 'sse') chatConsole.system('WebSocket unavailable: live data over SSE, chat over HTTP; retrying the WebSocket in the background');
    else if (lastLive === 'sse') chatConsole.system('back on the WebSocket');
    lastLive = transport;
  },
  onStatus: (status, attempt) => {
    health.setStatus(status, attempt);
    if (status === 'closed' && attempt === 0) chatConsole.system('disconnected from the hub; reconnecting…', 'error');
  },
  onWelcome: (w) => {
    health.onWelcome(w);
    ops.setNode(w.node);
    if (health.reconnects > 0) chatConsole.system(`reconnected (epoch ${w.epoch})`);
  },
});

const backfill = new Backfill(
  hub,
  store,
  (sym) => {
    chart.backfilled(sym);
    ticker.changed(sym);
    legend.changed(sym);
  },
  (sym, gap) => {
    if (!gap) return;
    // Give a re-publishing producer a moment before calling the hole permanent.
    setTimeout(() => {
      const still = store.resetGap(sym);
      if (still) notices.show(`gap in ${sym} bars ${fmtTime(still[0] * 1000)}–${fmtTime(still[1] * 1000)} UTC: not in the hub's history`, 'error');
    }, GAP_GRACE_MS);
  },
);

// Start on ?symbol=, else the last one used here, else the first the hub tells us about.
const wanted = new URL(location.href).searchParams.get('symbol') ?? safeGet(SYMBOL_KEY);
if (wanted) selectSymbol(wanted);
store.onNewSymbol((sym) => {
  ticker.changed(sym);
  if (chart.current === null) selectSymbol(sym);
});


/** Make sure a frame follows every message so its latency is sampled when it is on screen. */
const measureFrame = () => {};

function counted(handler: (msg: HubMessage) => void): (msg: HubMessage) => void {
  return (msg) => {
    probe.messages++;
    health.onMessage(msg);
    invalidate(measureFrame);
    handler(msg);
  };
}

/**
 * A reset means the hub could not replay a gap (it restarted: new epoch; or its history was
 * trimmed). What is on screen stays and what follows is merged into it; the notice says so. A
 * restart resets every topic at once: the resets of one burst make one notice.
 */
const pendingResets = new Map<string, ResetFrame['reason']>();
let resetTimer: ReturnType<typeof setTimeout> | null = null;

function flushResetNotice(): void {
  resetTimer = null;
  const families = new Map<string, string[]>();
  for (const topic of pendingResets.keys()) {
    const dot = topic.lastIndexOf('.');
    const family = dot < 0 ? topic : `${topic.slice(0, dot)}.*`;
    families.set(family, [...(families.get(family) ?? []), topic]);
  }
  const parts = [...families].map(([family, topics]) => (topics.length === 1 ? topics[0] : `${family} ×${topics.length}`));
  const why = [...pendingResets.values()].includes('epoch') ? 'hub restarted' : 'hub history trimmed';
  notices.show(`stream reset: ${parts.join(', ')} (${why}) · kept what was shown, merging`, 'warn', [...pendingResets.keys()].join('\n'));
  pendingResets.clear();
}

function onResetNotice(extra: (reset: ResetFrame) => void): (reset: ResetFrame) => void {
  return (reset) => {
    extra(reset);
    if (reset.topic.startsWith('$sys.')) return;
    pendingResets.set(reset.topic, reset.reason);
    resetTimer ??= setTimeout(flushResetNotice, 200);
  };
}

hub.subscribe(
  'bars.1s.*',
  counted((msg) => {
    if (!isBar(msg.data)) return;
    const raw = msg.data;
    const bar: Bar = {
      ...raw,
      symbol: symbolOf(msg.topic),
      time: raw.time > 1e11 ? Math.floor(raw.time / 1000) : raw.time, // tolerate ms
      volume: raw.volume ?? 0,
    };
    const change = store.applyBar(bar, msg.ts, msg.seq);
    if (bar.symbol === chart.current) backfill.request(bar.symbol);
    if (change === 'none') return;
    chart.barChanged(bar.symbol, change);
    legend.changed(bar.symbol);
    ticker.changed(bar.symbol);
  }),
  {
    snapshot: 300,
    onReset: onResetNotice((r) => {
      const sym = symbolOf(r.topic);
      store.barsReset(sym);
      chart.reset(sym);
    }),
  },
);

hub.subscribe(
  'ticks.*',
  counted((msg) => {
    if (!isTick(msg.data)) return;
    const tick: Tick = { ...msg.data, symbol: symbolOf(msg.topic) };
    store.applyTick(tick, msg.ts);
    ticker.changed(tick.symbol);
    legend.changed(tick.symbol);
  }),
  {
    snapshot: 1,
    onReset: onResetNotice(() => {}), // the last quote stays until the next tick replaces it
  },
);

hub.subscribe(
  'fills',
  counted((msg) => {
    if (!isFill(msg.data)) return;
    const fill: Fill = msg.data;
    if (!store.addFill(fill)) return;
    chart.fillsChanged(fill.symbol);
    blotter.changed();
  }),
  {
    snapshot: 200,
    onReset: onResetNotice(() => {}), // fills are kept and deduplicated by id
  },
);

hub.subscribe(
  'pnl',
  counted((msg) => {
    if (!isPnl(msg.data)) return;
    const snap: PnlSnapshot = msg.data;
    if (store.applyPnl(snap)) pnl.reset();
    else pnl.changed();
  }),
  {
    // A curve needs history: the hub keeps what it keeps, at most this many.
    snapshot: 300,
    onReset: onResetNotice(() => {}), // the curve continues, points keyed by time
  },
);

hub.subscribe(
  'chat',
  counted((msg) => chatConsole.onMessage(msg)),
  { snapshot: 50, onReset: onResetNotice(() => {}) }, // lines stay; replayed ones are deduplicated
);

hub.subscribe(
  '$sys.stats',
  counted((msg) => ops.onStats(msg.data)),
  { snapshot: 1, onReset: onResetNotice(() => {}) },
);
