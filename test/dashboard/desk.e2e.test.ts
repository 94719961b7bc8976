/**
 * The trading desk panels in a real browser against real parts: the hub (in-process, serving the
 * built dashboard), the market simulator with its warm start (in-process) and Debian's Chromium
 * driven by playwright-core. The page is opened once the warm history is in the hub, as a user
 * opens it after `npm start`.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../server/config.ts';
import { startHub, type RunningHub } from '../../server/server.ts';
import { runSimulator, type Logger, type RunningSimulator } from '../../simulator/run.ts';
import { until } from '../support/until.ts';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const DIST = fileURLToPath(new URL('../../dashboard/dist', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../test-results', import.meta.url));
const KEY = 'desk-e2e-publish-key-0123456789';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

/** What `window.__tickhub` exposes (dashboard/README.md, test contract). */
interface Probe {
  barsDrawn: number;
  lastBarTime: number | null;
  messages: number;
  symbol: string | null;
  timeframe: string;
  chartFrames: number;
  frames: number;
  barTimes(): number[];
}

let hub: RunningHub;
let sim: RunningSimulator;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** When the simulator was started and when the page had loaded (ms). */
let startedAt = 0;
/** How long the warm start took (reported with the first test's failure, if any). */
let warmSeconds = 0;

const problems: string[] = [];

const probe = <K extends keyof Probe>(key: K) =>
  page.evaluate((k) => (window as unknown as { __tickhub: Record<string, unknown> }).__tickhub[k], key) as Promise<Probe[K]>;
const barTimes = () => page.evaluate(() => (window as unknown as { __tickhub: Probe }).__tickhub.barTimes());

/** The ladder as drawn: visible levels per side (best first), the panel's state attributes. */
const ladder = () =>
  page.evaluate(() => {
    const panel = document.querySelector<HTMLElement>('[data-testid="ladder-panel"]')!;
    const side = (cls: string) =>
      [...panel.querySelectorAll<HTMLElement>(`.${cls} .lv:not([hidden])`)].map((row) => ({
        price: Number(row.querySelector('.lv-price')!.textContent!.replace(/,/g, '')),
        size: row.querySelector('.lv-size')!.textContent!,
        bar: row.querySelector<HTMLElement>('.size-bar')!.style.width,
      }));
    return {
      state: panel.dataset.book,
      seq: Number(panel.dataset.seq || 0),
      symbol: panel.dataset.symbol,
      resyncs: Number(panel.dataset.resyncs || 0),
      marker: panel.hasAttribute('data-resync-marker'),
      stateText: panel.querySelector('[data-testid="ladder-state"]')!.textContent,
      mid: panel.querySelector('[data-testid="ladder-mid"]')!.textContent,
      asks: side('asks'),
      bids: side('bids'),
    };
  });

const tapeRows = () =>
  page.evaluate(() =>
    [...document.querySelectorAll<HTMLTableRowElement>('[data-testid="tape"] tbody tr')].map((tr) => ({
      id: Number(tr.dataset.tradeId),
      side: tr.dataset.side,
      cls: tr.className,
      time: tr.cells[0].textContent!,
      price: Number(tr.cells[1].textContent!.replace(/,/g, '')),
    })),
  );

function expectNoProblems(): void {
  expect(problems, `console errors in the page:\n${problems.join('\n')}`).toEqual([]);
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run scripts/test-setup.sh as root, apt-get install chromium, or set CHROMIUM_PATH.`);
  if (!existsSync(`${DIST}/index.html`)) throw new Error('dashboard/dist/index.html is missing: run npm run build (npm test does it before vitest).');
  const config = testConfig({ publishKey: KEY, dashboardDir: DIST });
  hub = await startHub(config);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  page = await context.newPage();
  page.on('console', (msg) => msg.type() === 'error' && problems.push(`console.error: ${msg.text()}`));
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  // As `npm start` runs it: a warm start cut to the hub's HISTORY rules. The page is opened once
  // the history is in the hub, as a user opens it after start.
  let warmed!: () => void;
  const warm = new Promise<void>((resolve) => (warmed = resolve));
  const logger: Logger = { info: (m) => m.startsWith('warm start: published') && warmed(), warn() {}, error() {} };
  startedAt = Date.now();
  sim = runSimulator({ hubUrl: hub.wsUrl, key: KEY, rate: 10, logger, warm: { retention: config.retention } });
  await warm;
  warmSeconds = (Date.now() - startedAt) / 1000;
  const response = await page.goto(`${hub.httpUrl}/?symbol=AAPL&tf=1s`, { waitUntil: 'load' });
  expect(response?.status()).toBe(200);
}, 120_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  await browser?.close().catch(() => {});
  await sim?.stop();
  await hub?.close();
});

describe('the trading desk in Chromium against the real hub and simulator', () => {
  it('shows a full candle chart from the warm history within 5 s of a fresh start', async () => {
    // Timed in the page (ms since navigation), so the test process's own load does not count.
    const fullAt = await page.waitForFunction(() => {
      const p = (window as unknown as { __tickhub: Probe }).__tickhub;
      return p.barTimes().length >= 300 && p.barsDrawn >= 300 ? performance.now() : false;
    }, null, { timeout: 20_000, polling: 50 });
    expect(await fullAt.jsonValue(), `the warm start took ${warmSeconds} s`).toBeLessThan(5000);
    const times = await barTimes();
    expect(await probe('timeframe')).toBe('1s');
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]);
    // History, not the seconds since start: the chart reaches back minutes before the page opened.
    expect(times[0]).toBeLessThan(Math.floor(startedAt / 1000) - 290);
    expect(await probe('barsDrawn')).toBeGreaterThanOrEqual(300);
    expectNoProblems();
  }, 60_000);

  it('switching to 1m redraws at once from history; keys pick timeframes too', async () => {
    const drawn0 = await probe('barsDrawn');
    await page.click('[data-testid="timeframes"] button[data-tf="1m"]');
    // The store has the 1m bars first; the chart draws them on the next animation frame (later
    // still on a loaded machine), so wait for both.
    const times = await until('1m bars on the chart', async () => {
      const ts = (await probe('timeframe')) === '1m' ? await barTimes() : [];
      return ts.length >= 30 && (await probe('barsDrawn')) - drawn0 >= ts.length ? ts : null;
    }, 10_000);
    for (let i = 1; i < times.length; i++) {
      expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(60);
      expect(times[i] % 60).toBe(0);
    }
    // An hour of 1 m bars or more, from history: no waiting for live bars.
    expect(times.at(-1)! - times[0]).toBeGreaterThanOrEqual(3600);
    expect(times[0]).toBeLessThan(Math.floor(startedAt / 1000) - 3600);
    expect((await probe('barsDrawn')) - drawn0).toBeGreaterThanOrEqual(times.length); // a full setData
    expect(await page.getAttribute('button[data-tf="1m"]', 'aria-pressed')).toBe('true');
    expect(new URL(page.url()).searchParams.get('tf')).toBe('1m');

    await page.keyboard.press('3');
    await until('5m on key 3', async () => (await probe('timeframe')) === '5m' && (await barTimes()).every((t) => t % 300 === 0) && (await barTimes()).length > 5, 2000);
    // Typing in the chat box is not a shortcut.
    await page.fill('[data-testid="chat-input"]', '');
    await page.press('[data-testid="chat-input"]', '2');
    expect(await probe('timeframe')).toBe('5m');
    await page.fill('[data-testid="chat-input"]', '');
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('1');
    await until('back to 1s on key 1', async () => (await probe('timeframe')) === '1s' && (await barTimes()).length >= 300, 10_000);
    // Live updates continue after switching.
    const last = (await probe('lastBarTime'))!;
    await until('a newer 1 s bar', async () => ((await probe('lastBarTime')) ?? 0) > last, 15_000);
    expectNoProblems();
  }, 60_000);

  it('the depth ladder has levels on both sides, verified by checksum, and updates live', async () => {
    // The simulator publishes its live book once its warm history is out.
    const first = await until('a live book', async () => {
      const l = await ladder();
      return l.state === 'live' && l.asks.length >= 10 && l.bids.length >= 10 ? l : null;
    }, 20_000);
    expect(first.symbol).toBe('AAPL');
    for (let i = 1; i < first.asks.length; i++) expect(first.asks[i].price).toBeGreaterThan(first.asks[i - 1].price);
    for (let i = 1; i < first.bids.length; i++) expect(first.bids[i].price).toBeLessThan(first.bids[i - 1].price);
    expect(first.asks[0].price).toBeGreaterThan(first.bids[0].price);
    expect([...first.asks, ...first.bids].some((r) => parseFloat(r.bar) === 100)).toBe(true); // bars scaled to the largest size
    expect(first.mid).toMatch(/\d/);
    expect(first.stateText).toContain('live');
    const later = await until('the book to move on', async () => {
      const l = await ladder();
      return l.state === 'live' && l.seq > first.seq + 3 ? l : null;
    }, 15_000);
    expect(later.asks.length).toBeGreaterThanOrEqual(10);
    expectNoProblems();
  }, 60_000);

  it('a corrupted book update is caught by its checksum: the ladder shows a resync marker and comes back exact', async () => {
    const before = await until('a live book', async () => {
      const l = await ladder();
      return l.state === 'live' ? l : null;
    }, 20_000);
    // Anyone with the publish key can feed the topic: the update that follows the newest book
    // state, with a level and a checksum that are not the publisher's.
    const head = (await (await fetch(`${hub.httpUrl}/api/history/book.AAPL?limit=1`)).json()) as { lastSeq: number };
    const newest = (await (await fetch(`${hub.httpUrl}/api/history/book.AAPL?since=${head.lastSeq - 1}&limit=1`)).json()) as { messages: { data: { seq: number; time: number } }[] };
    const { seq, time } = newest.messages[0].data;
    const res = await fetch(`${hub.httpUrl}/api/publish/book.AAPL`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      // Whether the simulator's own next update lands first or not, the book cannot take this one
      // silently: before it, the checksum fails; after it, a later time at a seq already applied
      // says the feed started over.
      body: JSON.stringify({ type: 'update', symbol: 'AAPL', seq: seq + 1, time: time + 60_000, bids: [[1, 1]], asks: [], checksum: 12345 }),
    });
    expect(res.status).toBe(200);
    const marked = await until('a resync', async () => {
      const l = await ladder();
      return l.resyncs > before.resyncs ? l : null;
    }, 10_000);
    // The header says so: `resync (checksum)` while it lasts, `resynced` and then a count after.
    expect(marked.stateText).toMatch(/resync/);
    const back = await until('a live book again', async () => {
      const l = await ladder();
      return l.state === 'live' && l.asks.length >= 10 && l.bids.length >= 10 ? l : null;
    }, 10_000);
    expect(back.stateText).toMatch(/resync/);
    expect(back.bids.some((r) => r.price === 1)).toBe(false); // the corrupt level is gone
    expectNoProblems();
  }, 60_000);

  it('the trades tape shows the newest first, coloured by aggressor, bounded, and scrolls as trades arrive', async () => {
    const rows = await until('trades on the tape', async () => {
      const r = await tapeRows();
      return r.length >= 20 ? r : null;
    }, 15_000);
    expect(rows.length).toBeLessThanOrEqual(200);
    for (const r of rows) {
      expect(['buy', 'sell']).toContain(r.side);
      expect(r.cls).toContain(r.side === 'buy' ? 'up' : 'down');
    }
    for (let i = 1; i < rows.length; i++) expect(rows[i].time <= rows[i - 1].time).toBe(true);
    const top = rows[0].id;
    const later = await until('new trades on top', async () => {
      const r = await tapeRows();
      return r[0].id > top ? r : null;
    }, 15_000);
    expect(later.findIndex((r) => r.id === top)).toBeGreaterThan(0); // the old top moved down
    expect(later.length).toBeLessThanOrEqual(200);
    expectNoProblems();
  }, 60_000);

  it('the watchlist lists every symbol with a sparkline; a click selects it and the chart, ladder and tape follow', async () => {
    const wl = await until('every symbol with a sparkline', async () => {
      const rows = await page.evaluate(() =>
        [...document.querySelectorAll<HTMLTableRowElement>('[data-testid="watchlist"] tbody tr')].map((tr) => ({
          symbol: tr.dataset.symbol,
          last: tr.cells[1].textContent,
          chg: tr.cells[2].textContent,
          points: tr.querySelector('polyline')?.getAttribute('points')?.split(' ').length ?? 0,
        })),
      );
      return rows.length >= 6 && rows.every((r) => r.points >= 20 && r.last !== '—' && /%$/.test(r.chg ?? '')) ? rows : null;
    }, 15_000);
    expect(wl.map((r) => r.symbol)).toEqual([...wl.map((r) => r.symbol!)].sort());

    await page.click('[data-testid="watchlist"] tr[data-symbol="BTC-USD"]');
    await until('BTC-USD on the chart', async () => (await probe('symbol')) === 'BTC-USD' && (await barTimes()).length >= 300, 3000);
    expect(await page.getAttribute('[data-testid="watchlist"] tr[data-symbol="BTC-USD"]', 'aria-selected')).toBe('true');
    const l = await until('the BTC-USD book', async () => {
      const b = await ladder();
      return b.symbol === 'BTC-USD' && b.state === 'live' && b.bids.length >= 10 ? b : null;
    }, 15_000);
    const tape = await until('BTC-USD trades on the tape', async () => {
      const r = await tapeRows();
      return r.length > 0 && (await page.getAttribute('[data-testid="tape"]', 'data-symbol')) === 'BTC-USD' ? r : null;
    }, 15_000);
    // Prices of the new symbol, near its book.
    expect(Math.abs(tape[0].price - l.bids[0].price) / l.bids[0].price).toBeLessThan(0.01);
    await page.click('[data-testid="watchlist"] tr[data-symbol="AAPL"]');
    await until('AAPL again', async () => (await probe('symbol')) === 'AAPL', 3000);
    expectNoProblems();
  }, 60_000);

  it('coalesces updates: many messages, at most one render per animation frame', async () => {
    const m0 = await probe('messages');
    const f0 = await probe('frames');
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    const messages = (await probe('messages')) - m0;
    const frames = (await probe('frames')) - f0;
    const seconds = (Date.now() - t0) / 1000;
    expect(messages).toBeGreaterThan(frames); // not a render per message
    expect(frames).toBeLessThanOrEqual(Math.ceil(seconds * 61) + 5); // never more than the display rate
    expect(frames).toBeGreaterThan(0);
  }, 60_000);

  for (const [width, height] of [
    [1440, 900],
    [1280, 800],
    [900, 1000],
  ] as const) {
    it(`lays out every panel without overlap or overflow at ${width} wide`, async () => {
      await page.setViewportSize({ width, height });
      await page.waitForTimeout(300);
      const layout = await page.evaluate(() => {
        const panels = [...document.querySelectorAll<HTMLElement>('.panel')].map((p) => {
          const r = p.getBoundingClientRect();
          return {
            name: p.getAttribute('aria-label'),
            left: r.left,
            right: r.right,
            top: r.top + scrollY,
            bottom: r.bottom + scrollY,
            width: r.width,
            height: r.height,
            clipped: p.scrollWidth > p.clientWidth + 1,
            // A header line or a table that needs sideways scrolling hides figures (P&L's REAL., a BTC price).
            cut: [...p.querySelectorAll<HTMLElement>('.panel-head, .table-scroll')].filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => `${e.className} ${e.scrollWidth}>${e.clientWidth}`),
          };
        });
        const nick = document.querySelector<HTMLInputElement>('.chat-nick')!;
        const message = document.querySelector<HTMLInputElement>('.chat-input')!;
        const chat = { nickShown: nick.scrollWidth <= nick.clientWidth + 1, messageWidth: message.clientWidth };
        // An ops figure wider than its tile is cut off at its edge ("205.1 Mi").
        const tilesCut = [...document.querySelectorAll<HTMLElement>('.tile .ot-v')].filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent);
        return { panels, chat, tilesCut, innerWidth, innerHeight, scrollWidth: document.documentElement.scrollWidth, scrollHeight: document.documentElement.scrollHeight };
      });
      expect(layout.scrollWidth, 'horizontal scrolling').toBeLessThanOrEqual(layout.innerWidth);
      expect(layout.panels.length).toBe(9);
      for (const p of layout.panels) {
        expect(p.left, `${p.name} left`).toBeGreaterThanOrEqual(0);
        expect(p.right, `${p.name} right`).toBeLessThanOrEqual(layout.innerWidth);
        expect(p.width, `${p.name} width`).toBeGreaterThan(180);
        expect(p.height, `${p.name} height`).toBeGreaterThan(100);
        expect(p.height, `${p.name} taller than the screen`).toBeLessThanOrEqual(layout.innerHeight);
        expect(p.clipped, `${p.name} content wider than the panel`).toBe(false);
        expect(p.cut, `${p.name}: figures cut off`).toEqual([]);
      }
      expect(layout.chat.nickShown, 'the whole nick shows in the chat box').toBe(true);
      expect(layout.chat.messageWidth, 'room to type a chat message').toBeGreaterThanOrEqual(56);
      expect(layout.tilesCut, 'ops figures cut off').toEqual([]);
      for (let i = 0; i < layout.panels.length; i++) {
        for (let j = i + 1; j < layout.panels.length; j++) {
          const a = layout.panels[i];
          const b = layout.panels[j];
          const overlapX = Math.min(a.right, b.right) - Math.max(a.left, b.left);
          const overlapY = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
          expect(overlapX > 0.5 && overlapY > 0.5, `${a.name} overlaps ${b.name}`).toBe(false);
        }
      }
      if (width === 1440) {
        // One screen: everything fits without scrolling.
        expect(layout.scrollHeight).toBeLessThanOrEqual(layout.innerHeight);
        for (const p of layout.panels) expect(p.bottom, `${p.name} below the fold`).toBeLessThanOrEqual(layout.innerHeight);
        mkdirSync(RESULTS, { recursive: true });
        await page.screenshot({ path: `${RESULTS}/dashboard-desk.png` });
      }
      expectNoProblems();
    }, 60_000);
  }
});
