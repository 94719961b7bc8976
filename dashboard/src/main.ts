/**
 * tickhub dashboard: wires the hub subscriptions to the stores and the panels.
 * Handlers only update stores and mark panels dirty; panels draw once per animation frame.
 */
import { HubClient, type LiveTransport } from '../../client/hub-client.ts';
import { feedTopics, type Bar, type Fill, type PnlSnapshot, type Tick } from '../../protocol/feeds.ts';
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
import { BookFeed } from './book-feed.ts';
import { FollowSymbol } from './follow-symbol.ts';
import { LadderPanel } from './ladder.ts';
import { TapePanel } from './tape.ts';
import { Ticker } from './ticker.ts';
import { TimeframeSwitcher } from './timeframe-switcher.ts';
import { MAX_TAPE } from './trade-tape.ts';
import { TIMEFRAMES, barTopic, isTimeframe, timeframeOfTopic, type Timeframe } from './timeframes.ts';
import { isBar, isFill, isPnl, isTick, isTrade } from './validate.ts';
import { Watchlist } from './watchlist.ts';

declare global {
  interface Window {
    __tickhub: TickhubProbe;
  }
}

const SYMBOL_KEY = 'tickhub.symbol';
const TIMEFRAME_KEY = 'tickhub.timeframe';
/** How long after a reset a hole in the bars may still be filled by a re-publishing producer. */
const GAP_GRACE_MS = 3000;

const probe: TickhubProbe = {
  barsDrawn: 0,
  lastBarTime: null,
  messages: 0,
  symbol: null,
  timeframe: '1s',
  chartFrames: 0,
  frames: 0,
  barTimes: () => (probe.symbol === null ? [] : (store.symbols.get(probe.symbol)?.frames.get(probe.timeframe)?.bars.map((b) => b.time) ?? [])),
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
onFrame((now) => {
  probe.frames++;
  health.frameRendered(now);
});

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
const watchlist = new Watchlist(byId<HTMLTableSectionElement>('watchlist-body'), store, selectSymbol);
const switcher = new TimeframeSwitcher(byId('timeframes'), selectTimeframe);
const tape = new TapePanel(byId<HTMLTableSectionElement>('tape-body'), byId('tape-empty'));

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
  if (chart.current !== symbol) tape.reset(symbol, store.symbols.get(symbol)?.decimals ?? 2);
  chart.setSymbol(symbol);
  backfill.request(symbol, chart.timeframe);
  legend.setSymbol(symbol);
  ticker.setSelected(symbol);
  watchlist.setSelected(symbol);
  pnl.select(symbol);
  selectedSeconds.follow(symbol); // first: the default chart
  if (selectedBars.following !== symbol) {
    // Bars held from an earlier selection missed what came since: page back until they join up.
    for (const tf of SELECTED_ONLY_TFS) store.barsReset(symbol, tf);
    selectedBars.follow(symbol);
  }
  trades.follow(symbol);
  book.follow(symbol);
  remember(SYMBOL_KEY, 'symbol', symbol);
}

function selectTimeframe(tf: Timeframe): void {
  chart.setTimeframe(tf);
  legend.setTimeframe(tf);
  switcher.setSelected(tf);
  if (chart.current !== null) backfill.request(chart.current, tf);
  remember(TIMEFRAME_KEY, 'tf', tf);
}

/** Keep a choice for the next visit (localStorage) and in the address (shareable). */
function remember(key: string, param: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* storage disabled */
  }
  const url = new URL(location.href);
  if (url.searchParams.get(param) !== value) {
    url.searchParams.set(param, value);
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
  (sym, tf) => {
    chart.backfilled(sym, tf);
    ticker.changed(sym);
    watchlist.changed(sym);
    legend.changed(sym);
  },
  (sym, tf, gap) => {
    if (!gap) return;
    // Give a re-publishing producer a moment before calling the hole permanent.
    setTimeout(() => {
      const still = store.resetGap(sym, tf);
      if (still) notices.show(`gap in ${sym} ${tf} bars ${fmtTime(still[0] * 1000)}–${fmtTime(still[1] * 1000)} UTC: not in the hub's history`, 'error');
    }, GAP_GRACE_MS);
  },
);

/** Timeframes subscribed for every symbol; the others follow the selected symbol. */
const EVERY_SYMBOL_TFS: readonly Timeframe[] = ['1s', '5m'];
const SELECTED_ONLY_TFS = TIMEFRAMES.filter((tf) => !EVERY_SYMBOL_TFS.includes(tf));
const selectedBars = new FollowSymbol(
  hub,
  (sym) => `bars.*.${sym}`,
  counted((msg) => {
    if (!EVERY_SYMBOL_TFS.includes(timeframeOfTopic(msg.topic)!)) onBar(msg);
  }),
  {
    snapshot: 300,
    onReset: onResetNotice((r) => {
      if (!EVERY_SYMBOL_TFS.includes(timeframeOfTopic(r.topic)!)) onBarsReset(r);
    }),
  },
);

/**
 * The selected symbol's 1 s bars once more, with a deep snapshot: its chart is full from the
 * first reply (a bar is republished per trade, so 3000 messages are a few hundred bars) instead
 * of after the snapshots of every other feed and a history round trip. Its messages overlap
 * `bars.1s.*`; the store keeps one version per bar, so the copies cost nothing but the parse.
 */
const selectedSeconds = new FollowSymbol(hub, (sym) => barTopic('1s', sym), counted(onBar), {
  snapshot: 3000,
  onReset: () => {}, // handled by the bars.1s.* subscription
});

const trades = new FollowSymbol(
  hub,
  feedTopics.trades,
  counted((msg) => {
    if (!isTrade(msg.data)) return;
    const sym = symbolOf(msg.topic);
    tape.add(msg.data, store.get(sym).decimals);
  }),
  { snapshot: MAX_TAPE, onReset: onResetNotice(() => {}) }, // the tape keeps its rows; replays are deduplicated by id and time
);

const book = new BookFeed(hub, () => ladder.changed());
const ladder = new LadderPanel(
  {
    panel: byId('ladder-panel'),
    state: byId('ladder-state'),
    asks: byId('ladder-asks'),
    bids: byId('ladder-bids'),
    mid: byId('ladder-mid-price'),
    spread: byId('ladder-spread'),
  },
  book,
  (sym) => store.symbols.get(sym)?.decimals ?? 2,
);

// Start on ?tf= (else the last one used here, else 1s) and ?symbol= (else the last one used here,
// else the first the hub tells us about).
const params = new URL(location.href).searchParams;
const wantedTf = params.get('tf') ?? safeGet(TIMEFRAME_KEY);
selectTimeframe(isTimeframe(wantedTf) ? wantedTf : '1s');
const wanted = params.get('symbol') ?? safeGet(SYMBOL_KEY);
if (wanted) selectSymbol(wanted);
store.onNewSymbol((sym) => {
  ticker.changed(sym);
  watchlist.changed(sym);
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

function onBar(msg: HubMessage): void {
  const tf = timeframeOfTopic(msg.topic);
  if (!tf || !isBar(msg.data)) return;
  const raw = msg.data;
  const bar: Bar = {
    ...raw,
    symbol: symbolOf(msg.topic),
    time: raw.time > 1e11 ? Math.floor(raw.time / 1000) : raw.time, // tolerate ms
    volume: raw.volume ?? 0,
  };
  const change = store.applyBar(bar, msg.ts, msg.seq, tf);
  if (chart.shows(bar.symbol, tf)) backfill.request(bar.symbol, tf);
  if (change === 'none') return;
  chart.barChanged(bar.symbol, tf, change);
  legend.changed(bar.symbol);
  ticker.changed(bar.symbol);
  watchlist.changed(bar.symbol);
}

function onBarsReset(r: ResetFrame): void {
  const tf = timeframeOfTopic(r.topic);
  if (!tf) return;
  const sym = symbolOf(r.topic);
  store.barsReset(sym, tf);
  chart.reset(sym, tf);
}

// 1 s bars of every symbol (quotes, and the default chart) and 5 m bars of every symbol (the
// watchlist's session); the other timeframes only for the selected symbol (`selectedBars`).
for (const tf of EVERY_SYMBOL_TFS) {
  hub.subscribe(`bars.${tf}.*`, counted(onBar), { snapshot: 300, onReset: onResetNotice(onBarsReset) });
}

hub.subscribe(
  'ticks.*',
  counted((msg) => {
    if (!isTick(msg.data)) return;
    const tick: Tick = { ...msg.data, symbol: symbolOf(msg.topic) };
    store.applyTick(tick, msg.ts);
    ticker.changed(tick.symbol);
    watchlist.changed(tick.symbol);
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
