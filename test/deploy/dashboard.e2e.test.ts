/**
 * The dashboard through nginx in a real browser: three in-process hub nodes on one Redis
 * (TRUSTED_PROXIES=127.0.0.1, serving the built dashboard), deploy/nginx.conf in front with only
 * its addresses replaced, the simulator publishing to one node, Chromium loading the page from
 * nginx's port. The page's own WebSocket must pass the origin check and go live.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../server/config.ts';
import { startHub, type RunningHub } from '../../server/server.ts';
import { runSimulator, type Logger, type RunningSimulator } from '../../simulator/run.ts';
import { startProxy, type RunningProxy } from '../support/proxies.ts';
import { TestRedis } from '../support/redis-server.ts';
import { until } from '../support/until.ts';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const DIST = fileURLToPath(new URL('../../dashboard/dist', import.meta.url));
const KEY = 'deploy-e2e-publish-key-0123456789';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const quiet: Logger = { info() {}, warn() {}, error() {} };

let redis: TestRedis;
let nodes: RunningHub[] = [];
let proxy: RunningProxy;
let sim: RunningSimulator;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run scripts/test-setup.sh as root, apt-get install chromium, or set CHROMIUM_PATH.`);
  if (!existsSync(`${DIST}/index.html`)) throw new Error('dashboard/dist/index.html is missing: run npm run build (npm test does it before vitest).');
  redis = await TestRedis.start();
  const config = testConfig({ publishKey: KEY, dashboardDir: DIST, redisUrl: redis.url, trustedProxies: ['127.0.0.1'] });
  nodes = await Promise.all([0, 1, 2].map(() => startHub(config)));
  proxy = await startProxy('nginx', nodes.map((n) => n.port));
  sim = runSimulator({ hubUrl: nodes[0].wsUrl, key: KEY, rate: 10, logger: quiet });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}, 60_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await sim?.stop();
  await proxy?.stop();
  await Promise.all(nodes.map((n) => n.close()));
  await redis?.stop();
});

describe('the dashboard through deploy/nginx.conf in Chromium', () => {
  it('loads from the proxy, connects through it and goes live', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (msg) => msg.type() === 'error' && problems.push(msg.text()));
    page.on('pageerror', (err) => problems.push(err.message));
    const response = await page.goto(`${proxy.httpBase}/?symbol=AAPL`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    await page.locator('[data-testid="status"][data-state="open"]').waitFor({ timeout: 10_000 });
    const messages = () => page.evaluate(() => (window as unknown as { __tickhub: { messages: number } }).__tickhub.messages);
    const first = await until('messages in the page', async () => ((await messages()) > 0 ? await messages() : 0), 10_000);
    await until('more messages (live)', async () => (await messages()) > first, 10_000);
    expect(problems).toEqual([]);
    await page.close();
  });
});
