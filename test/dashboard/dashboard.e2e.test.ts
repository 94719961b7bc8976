/**
 * The dashboard in a real browser against real parts: the hub (in-process, serving the built
 * dashboard with its CSP), the market simulator (in-process) and Debian's Chromium driven by
 * playwright-core. `npm test` builds the dashboard first and installs Chromium if it can.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig, type HubConfig } from '../../server/config.ts';
import { startHub, type RunningHub } from '../../server/server.ts';
import { runSimulator, type Logger, type RunningSimulator } from '../../simulator/run.ts';
import { openSocket, sleep, type TestSocket } from '../support/ws-client.ts';
import { until } from '../support/until.ts';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const DIST = fileURLToPath(new URL('../../dashboard/dist', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../test-results', import.meta.url));
const KEY = 'e2e-publish-key-0123456789';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

/** Candle colors of the dashboard theme (dashboard/src/theme.ts): up and down. */
const CANDLE_RGB = [
  [0x22, 0xc5, 0x5e],
  [0xef, 0x44, 0x44],
];

const quiet: Logger = { info() {}, warn() {}, error() {} };

/** What `window.__tickhub` exposes (dashboard/README.md, test contract). */
interface Probe {
  barsDrawn: number;
  lastBarTime: number | null;
  messages: number;
  symbol: string | null;
  chartFrames: number;
  barTimes(): number[];
}

let config: HubConfig;
let hub: RunningHub;
let sim: RunningSimulator;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Console errors, page errors and CSP violations seen in the page. */
const problems: string[] = [];
/** While true, the browser's own "WebSocket connection ... failed" lines are expected (hub down). */
let hubDown = false;
let cspHeader: string | null = null;

function preflight(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `e2e: Chromium not found at ${CHROMIUM}. Run scripts/test-setup.sh (as root it installs Debian's chromium), ` +
        'or install it (apt-get install chromium) or set CHROMIUM_PATH.',
    );
  }
  if (!existsSync(`${DIST}/index.html`)) {
    throw new Error('e2e: dashboard/dist/index.html is missing: run npm run build (npm test does it before vitest).');
  }
}

const probe = <K extends keyof Probe>(key: K) =>
  page.evaluate((k) => (window as unknown as { __tickhub: Record<string, unknown> }).__tickhub[k], key) as Promise<Probe[K]>;

const barTimes = () => page.evaluate(() => (window as unknown as { __tickhub: Probe }).__tickhub.barTimes());


/** Pixels of the candle chart's canvases that have the up or down candle color. */
function candlePixels(): Promise<{ canvases: number; candle: number; colors: number; signature: number }> {
  return page.evaluate((rgb) => {
    let candle = 0;
    let signature = 0;
    const colors = new Set<number>();
    const canvases = [...document.querySelectorAll<HTMLCanvasElement>('[data-testid="chart"] canvas')].filter((c) => c.width > 0 && c.height > 0);
    for (const c of canvases) {
      const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] === 0) continue;
        const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
        colors.add((r << 16) | (g << 8) | b);
        signature = (signature * 31 + r * 7 + g * 3 + b + (i & 0xffff)) % 1_000_000_007;
        if (rgb.some(([cr, cg, cb]) => Math.abs(r - cr) < 12 && Math.abs(g - cg) < 12 && Math.abs(b - cb) < 12)) candle++;
      }
    }
    return { canvases: canvases.length, candle, colors: colors.size, signature };
  }, CANDLE_RGB);
}

function expectNoProblems(): void {
  expect(problems, `console errors / CSP violations in the page:\n${problems.join('\n')}`).toEqual([]);
}

beforeAll(async () => {
  preflight();
  config = testConfig({ publishKey: KEY, dashboardDir: DIST });
  hub = await startHub(config);
  sim = runSimulator({ hubUrl: hub.wsUrl, key: KEY, rate: 10, logger: quiet });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  page = await context.newPage();
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // Hub down: the WebSocket fails, and so does the client's SSE fallback attempt.
    if (hubDown && /WebSocket connection to .* failed|Failed to load resource: net::ERR_CONNECTION_REFUSED/.test(text)) return;
    problems.push(`console.error: ${text}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('requestfailed', (req) => {
    // An SSE fallback stream (a WebSocket slower than HubClient's open timeout) is aborted when the WebSocket takes over.
    if (hubDown || req.url().startsWith('ws') || req.url().includes('/sse/')) return;
    problems.push(`request failed: ${req.url()} ${req.failure()?.errorText ?? ''}`);
  });
  const response = await page.goto(`${hub.httpUrl}/?symbol=AAPL`, { waitUntil: 'load' });
  expect(response?.status()).toBe(200);
  cspHeader = (await response?.headerValue('content-security-policy')) ?? null;
}, 30_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  await browser?.close().catch(() => {});
  await sim?.stop();
  await hub?.close();
});

describe('dashboard in Chromium against the real hub and simulator', () => {
  it('is served with the CSP and connects', async () => {
    expect(cspHeader).toContain("script-src 'self'");
    expect(cspHeader).toContain("connect-src 'self'");
    await page.locator('[data-testid="status"][data-state="open"]').waitFor({ timeout: 10_000 });
    expectNoProblems();
  });

  it('draws the candle chart and keeps updating it', async () => {
    const first = await until('the first bar on the chart', () => probe('lastBarTime'));
    expect(await probe('symbol')).toBe('AAPL');
    const drawn0 = await probe('barsDrawn');
    const pixels0 = await until('candles on the canvas', async () => {
      const p = await candlePixels();
      return p.candle > 50 ? p : null;
    });
    expect(pixels0.canvases).toBeGreaterThan(0);
    expect(pixels0.colors).toBeGreaterThan(5); // background, grid, text, candles: not a blank canvas

    // Two more seconds of bars: the newest bar time advances and more bars are handed to the chart.
    const later = await until('lastBarTime to advance by 2 s', async () => {
      const t = await probe('lastBarTime');
      return t !== null && t >= first + 2 ? t : null;
    });
    expect(later).toBeGreaterThan(first);
    expect(await probe('barsDrawn')).toBeGreaterThan(drawn0);
    expect(await probe('chartFrames')).toBeGreaterThan(1);
    const pixels1 = await candlePixels();
    expect(pixels1.candle).toBeGreaterThan(50);
    expect(pixels1.signature).not.toBe(pixels0.signature); // the canvas was redrawn with new data

    const times = await barTimes();
    expect(times.length).toBeGreaterThan(2);
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]);
    expectNoProblems();
  });

  it('exchanges chat lines with a wscat-style line-mode client', async () => {
    const line: TestSocket = await openSocket(hub.wsUrl); // no subprotocol: line mode
    try {
      await line.next((f) => f.startsWith('* welcome'));
      line.send('/nick wscat-e2e');
      await line.next((f) => f.includes('you are now wscat-e2e'));

      // page -> line client
      const nick = await page.inputValue('[data-testid="chat-nick"]');
      expect(nick).toMatch(/^[A-Za-z0-9_-]+$/);
      const fromPage = `hello from the page ${Date.now()}`;
      await page.fill('[data-testid="chat-input"]', fromPage);
      await page.press('[data-testid="chat-input"]', 'Enter');
      expect(await line.next((f) => f.includes(fromPage))).toBe(`${nick}: ${fromPage}`);
      await page.waitForFunction((t) => [...document.querySelectorAll('[data-testid="chat-log"] .chat-line.mine')].some((l) => l.textContent?.includes(t)), fromPage, { timeout: 5000 });
      expect(await page.inputValue('[data-testid="chat-input"]')).toBe('');
      await sleep(300); // the hub's echo of our own line must not show it twice
      expect(await page.locator('[data-testid="chat-log"] .chat-line', { hasText: fromPage }).count()).toBe(1);

      // line client -> page
      const fromWs = `hello from wscat ${Date.now()}`;
      line.send(fromWs);
      const shown = page.locator('[data-testid="chat-log"] .chat-line', { hasText: fromWs });
      await shown.waitFor({ timeout: 5000 });
      expect(await shown.count()).toBe(1);
      expect(await shown.locator('.nick').textContent()).toBe('wscat-e2e');
    } finally {
      line.close();
    }
    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: `${RESULTS}/dashboard.png` });
    expectNoProblems();
  });
  it('shows live hub numbers in the ops panel', async () => {
    const read = () =>
      page.evaluate(() => {
        const tile = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
        const value = (id: string) => {
          const v = tile(id)?.dataset.value;
          return v === undefined || v === '' ? null : Number(v);
        };
        return {
          connections: value('ops-connections'),
          rateIn: value('ops-rate-in'),
          rateOut: value('ops-rate-out'),
          drops: value('ops-drops'),
          lag: value('ops-lag'),
          latency: value('ops-latency'),
          // Figures from $sys.stats only (the e2e latency tile also moves with the page's clock).
          hub: ['ops-rate-in', 'ops-rate-out', 'ops-subs'].map((id) => tile(id)?.innerText ?? '').join(' | '),
          slowest: document.querySelector('[data-testid="ops-slowest"]')?.textContent ?? '',
        };
      });
    // The page and the simulator at least (the chat test's line client has left).
    const first = await until('ops numbers', async () => {
      const r = await read();
      return r.connections !== null && r.connections >= 2 && (r.rateIn ?? 0) > 0 && r.latency !== null ? r : null;
    });
    expect(first.rateOut).toBeGreaterThan(0);
    expect(first.drops).toBeGreaterThanOrEqual(0);
    expect(first.lag).toBeGreaterThanOrEqual(0);
    expect(first.latency).toBeGreaterThanOrEqual(0);
    expect(first.latency).toBeLessThan(5000);
    expect(first.slowest).toMatch(/outbox/i);
    // Live: the figures move with the hub's once-a-second stats.
    const later = await until('ops numbers to change', async () => {
      const r = await read();
      return r.hub !== first.hub ? r : null;
    }, 5000);
    expect(later.connections).toBeGreaterThanOrEqual(2);
    expect(later.rateIn).toBeGreaterThan(0);
    expectNoProblems();
  });

  // Last: it replaces the hub.
  it('reconnects by itself after a hub restart and keeps a continuous series of bars', async () => {
    await until('a few bars before the restart', async () => (await barTimes()).length >= 3);
    const before = await barTimes();
    await page.evaluate(() => ((window as unknown as { __samePage: boolean }).__samePage = true));
    const port = hub.port;

    hubDown = true;
    await hub.close();
    await page.locator('[data-testid="status"]:not([data-state="open"])').waitFor({ timeout: 5000 });
    await sleep(1500);
    hub = await until('the hub to listen on its old port again', () => startHub({ ...config, port }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') return null;
      throw err;
    }), 5000);
    await page.locator('[data-testid="status"][data-state="open"]').waitFor({ timeout: 15_000 });
    const reopenedAt = Math.floor(Date.now() / 1000);
    await page.locator('[data-testid="notice"]', { hasText: 'stream reset:' }).first().waitFor({ state: 'visible', timeout: 5000 });
    hubDown = false;

    // New bars from the restarted hub (the simulator reconnects by itself, backoff <= 3 s).
    await until('bars after the restart', async () => ((await probe('lastBarTime')) ?? 0) >= reopenedAt + 2, 15_000);
    expect(await page.evaluate(() => (window as unknown as { __samePage?: boolean }).__samePage)).toBe(true); // no reload
    expect(await probe('symbol')).toBe('AAPL');

    // A second missed while the hub was down arrives when the simulator replays its backlog.
    const contiguous = (ts: number[]) => ts.length > 0 && ts[ts.length - 1] - ts[0] + 1 === ts.length;
    const times = await until('a contiguous series of bars', async () => {
      const ts = await barTimes();
      return contiguous(ts) ? ts : null;
    }, 5000).catch(() => barTimes()); // the assertions below say what is wrong
    expect(before.filter((t) => !times.includes(t)), 'bars from before the restart that were dropped').toEqual([]);
    const dupes = times.filter((t, i) => times.indexOf(t) !== i);
    expect(dupes, 'duplicate bar times').toEqual([]);
    for (let i = 1; i < times.length; i++) expect(times[i], `bar ${i} after bar ${i - 1}`).toBeGreaterThan(times[i - 1]);
    const missing: number[] = [];
    for (let t = times[0]; t <= times[times.length - 1]; t++) if (!times.includes(t)) missing.push(t);
    expect(missing, `seconds missing between ${times[0]} and ${times[times.length - 1]}`).toEqual([]);
    expect(times[times.length - 1] - times[0] + 1).toBe(times.length);
    await page.screenshot({ path: `${RESULTS}/dashboard-after-restart.png` });
    expectNoProblems();
  });
});
