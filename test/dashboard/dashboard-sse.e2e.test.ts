/**
 * The dashboard with WebSockets blocked for the page (every `ws://` connection Chromium opens is
 * closed by playwright's `routeWebSocket` before the hub sees it), against the real hub and
 * simulator: it must fall back to SSE for data and HTTP for chat, show that in the status bar,
 * draw live candles, chat both ways with a line-mode client, fill the ops panel, resume after a
 * hub restart, and go back to the WebSocket once WebSockets pass again.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig, type HubConfig } from '../../server/config.ts';
import { startHub, type RunningHub } from '../../server/server.ts';
import { runSimulator, type Logger, type RunningSimulator } from '../../simulator/run.ts';
import { sleep, until } from '../support/until.ts';
import { openSocket, type TestSocket } from '../support/ws-client.ts';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const DIST = fileURLToPath(new URL('../../dashboard/dist', import.meta.url));
const KEY = 'sse-e2e-publish-key-0123456789';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const quiet: Logger = { info() {}, warn() {}, error() {} };

let config: HubConfig;
let hub: RunningHub;
let sim: RunningSimulator;
let browser: Browser;
let page: Page;
/** While true every WebSocket of the page is closed unopened; false lets them through to the hub. */
let wsBlocked = true;
/** While true, failed requests are expected (the hub is down). */
let hubDown = false;
const problems: string[] = [];

interface Probe {
  barsDrawn: number;
  lastBarTime: number | null;
  messages: number;
  barTimes(): number[];
}
const probe = <K extends keyof Omit<Probe, 'barTimes'>>(key: K) =>
  page.evaluate((k) => (window as unknown as { __tickhub: Record<string, unknown> }).__tickhub[k], key) as Promise<Probe[K]>;
const barTimes = () => page.evaluate(() => (window as unknown as { __tickhub: Probe }).__tickhub.barTimes());
const sseConnections = () => [...hub.hub.connections].filter((c) => c.mode === 'sse');
const statusOn = (transport: string) => page.locator(`[data-testid="status"][data-state="open"][data-transport="${transport}"]`);

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run scripts/test-setup.sh as root, apt-get install chromium, or set CHROMIUM_PATH.`);
  if (!existsSync(`${DIST}/index.html`)) throw new Error('dashboard/dist/index.html is missing: run npm run build (npm test does it before vitest).');
  config = testConfig({ publishKey: KEY, dashboardDir: DIST });
  hub = await startHub(config);
  sim = runSimulator({ hubUrl: hub.wsUrl, key: KEY, rate: 10, logger: quiet }); // the producer's WebSocket is not blocked
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  page = await context.newPage();
  await page.routeWebSocket(/.*/, (ws) => {
    if (wsBlocked) ws.close({ code: 1008, reason: 'blocked by the test' });
    else ws.connectToServer();
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    if (hubDown && /Failed to load resource|net::ERR_/.test(msg.text())) return;
    problems.push(`console.error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('requestfailed', (req) => {
    // The SSE stream is aborted on purpose when the page switches back to the WebSocket.
    if (hubDown || req.url().includes('/sse/')) return;
    problems.push(`request failed: ${req.url()} ${req.failure()?.errorText ?? ''}`);
  });
  const response = await page.goto(`${hub.httpUrl}/?symbol=AAPL`, { waitUntil: 'load' });
  expect(response?.status()).toBe(200);
}, 30_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await sim?.stop();
  await hub?.close();
});

describe('dashboard in Chromium with WebSockets blocked', () => {
  it('falls back to SSE and says so in the status bar', async () => {
    await statusOn('sse').waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-testid="status"]').innerText()).toMatch(/SSE/);
    await until('the page\'s stream at the hub', () => sseConnections().length === 1, 5000);
    expect([...hub.hub.connections].filter((c) => c.mode === 'app')).toHaveLength(1); // the simulator only
    await page.locator('[data-testid="chat-log"] .chat-line.sys', { hasText: 'over SSE' }).waitFor({ timeout: 5000 });
    expect(problems).toEqual([]);
  });

  it('draws live candles from the SSE stream', async () => {
    const first = await until('the first bar on the chart', () => probe('lastBarTime'), 10_000);
    const drawn = await probe('barsDrawn');
    await until('bars two seconds newer', async () => ((await probe('lastBarTime')) ?? 0) >= first + 2, 10_000);
    expect(await probe('barsDrawn')).toBeGreaterThan(drawn);
    const times = await barTimes();
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]);
    expect(problems).toEqual([]);
  });

  it('chats both ways with a line-mode client: the page posts over HTTP, lines arrive over SSE', async () => {
    const line: TestSocket = await openSocket(hub.wsUrl);
    try {
      await line.next((f) => f.startsWith('* welcome'));
      line.send('/nick wscat-sse');
      await line.next((f) => f.includes('you are now wscat-sse'));
      const nick = await page.inputValue('[data-testid="chat-nick"]');
      const fromPage = `over http ${Date.now()}`;
      await page.fill('[data-testid="chat-input"]', fromPage);
      await page.press('[data-testid="chat-input"]', 'Enter');
      expect(await line.next((f) => f.includes(fromPage))).toBe(`${nick}: ${fromPage}`);
      await page.locator('[data-testid="chat-log"] .chat-line.mine', { hasText: fromPage }).waitFor({ timeout: 5000 });
      await sleep(300); // the stream's copy of our own line must not show it twice
      expect(await page.locator('[data-testid="chat-log"] .chat-line', { hasText: fromPage }).count()).toBe(1);

      const fromLine = `over the line ${Date.now()}`;
      line.send(fromLine);
      const shown = page.locator('[data-testid="chat-log"] .chat-line', { hasText: fromLine });
      await shown.waitFor({ timeout: 5000 });
      expect(await shown.locator('.nick').textContent()).toBe('wscat-sse');
    } finally {
      line.close();
    }
    expect(problems).toEqual([]);
  });

  it('fills the ops panel from $sys.stats over SSE', async () => {
    const value = (id: string) =>
      page.evaluate((i) => {
        const v = document.querySelector<HTMLElement>(`[data-testid="${i}"]`)?.dataset.value;
        return v === undefined || v === '' ? null : Number(v);
      }, id);
    await until('ops numbers', async () => ((await value('ops-connections')) ?? 0) >= 2 && ((await value('ops-rate-in')) ?? 0) > 0 && (await value('ops-latency')) !== null, 10_000);
    expect(await value('ops-rate-out')).toBeGreaterThan(0);
    // The page itself is counted as an SSE connection.
    await until('the sse mode in the connections tile', async () => /sse 1/.test(await page.locator('[data-testid="ops-connections"] .ot-s').innerText()), 5000);
    const head = await page.locator('#ops-head').innerText();
    await until('the ops figures to move', async () => (await page.locator('#ops-head').innerText()) !== head, 5000);
    expect(problems).toEqual([]);
  });

  it('resumes on SSE after a hub restart, keeping a continuous series of bars', async () => {
    await until('a few bars', async () => (await barTimes()).length >= 3);
    const before = await barTimes();
    const port = hub.port;
    hubDown = true;
    await hub.close();
    await page.locator('[data-testid="status"]:not([data-state="open"])').waitFor({ timeout: 5000 });
    hub = await until('the hub on its old port again', () => startHub({ ...config, port }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') return null;
      throw err;
    }), 5000);
    await statusOn('sse').waitFor({ timeout: 15_000 });
    const reopenedAt = Math.floor(Date.now() / 1000);
    await page.locator('[data-testid="notice"]', { hasText: 'stream reset:' }).first().waitFor({ state: 'visible', timeout: 5000 });
    hubDown = false;
    await until('bars after the restart', async () => ((await probe('lastBarTime')) ?? 0) >= reopenedAt + 2, 15_000);
    const times = await barTimes();
    expect(before.filter((t) => !times.includes(t)), 'bars from before the restart that were dropped').toEqual([]);
    expect(times.filter((t, i) => times.indexOf(t) !== i), 'duplicate bar times').toEqual([]);
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]);
    expect(problems).toEqual([]);
  });

  it('goes back to the WebSocket once WebSockets pass again, and stays live', async () => {
    wsBlocked = false;
    await statusOn('ws').waitFor({ timeout: 15_000 });
    await page.locator('[data-testid="chat-log"] .chat-line.sys', { hasText: 'back on the WebSocket' }).waitFor({ timeout: 5000 });
    await until('the stream to end at the hub', () => sseConnections().length === 0, 5000);
    const messages = await probe('messages');
    await until('messages over the WebSocket', async () => (await probe('messages')) > messages + 10, 10_000);
    expect(problems).toEqual([]);
  });
});
