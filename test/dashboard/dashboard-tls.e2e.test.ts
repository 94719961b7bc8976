/**
 * The dashboard over the hub's own TLS in a real browser: the hub serves https and wss with a
 * certificate made for the test, the simulator publishes over wss, and Chromium (told to accept
 * the test certificate) loads the page from https and goes live over same-origin wss, with HSTS.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocketLike } from '../../client/hub-client.ts';
import { testConfig } from '../../server/config.ts';
import { startHub, type RunningHub } from '../../server/server.ts';
import { runSimulator, type Logger, type RunningSimulator } from '../../simulator/run.ts';
import { certDir, makeCertPair } from '../support/tls-certs.ts';
import { until } from '../support/until.ts';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const DIST = fileURLToPath(new URL('../../dashboard/dist', import.meta.url));
const KEY = 'tls-e2e-publish-key-0123456789';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const quiet: Logger = { info() {}, warn() {}, error() {} };

const certs = certDir();
let hub: RunningHub;
let sim: RunningSimulator;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run scripts/test-setup.sh as root, apt-get install chromium, or set CHROMIUM_PATH.`);
  if (!existsSync(`${DIST}/index.html`)) throw new Error('dashboard/dist/index.html is missing: run npm run build (npm test does it before vitest).');
  const pair = makeCertPair(certs.dir, 'hub');
  hub = await startHub(testConfig({ publishKey: KEY, dashboardDir: DIST, tlsCertFile: pair.certFile, tlsKeyFile: pair.keyFile }));
  // The simulator trusts the test certificate the way a producer would trust its CA.
  const connect = (url: string, protocol: string) => new WebSocket(url, protocol, { ca: pair.cert }) as unknown as WebSocketLike;
  sim = runSimulator({ hubUrl: hub.wsUrl, key: KEY, rate: 10, logger: quiet, connect });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}, 60_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await sim?.stop();
  await hub?.close();
  certs.remove();
});

describe('the dashboard over the hub\'s own TLS in Chromium', () => {
  it('loads from https, connects over same-origin wss and goes live', async () => {
    expect(hub.httpUrl.startsWith('https://')).toBe(true);
    const context = await browser.newContext({ ignoreHTTPSErrors: true }); // the test's self-signed certificate
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (msg) => msg.type() === 'error' && problems.push(msg.text()));
    page.on('pageerror', (err) => problems.push(err.message));
    const response = await page.goto(`${hub.httpUrl}/?symbol=AAPL`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    expect(response?.headers()['strict-transport-security']).toBeTruthy();
    await page.locator('[data-testid="status"][data-state="open"]').waitFor({ timeout: 10_000 });
    const messages = () => page.evaluate(() => (window as unknown as { __tickhub: { messages: number } }).__tickhub.messages);
    const first = await until('messages in the page', async () => ((await messages()) > 0 ? await messages() : 0), 10_000);
    await until('more messages (live)', async () => (await messages()) > first, 10_000);
    expect([...hub.hub.connections].some((c) => c.mode === 'app' && c.remote === '127.0.0.1')).toBe(true);
    expect(problems).toEqual([]);
    await context.close();
  });
});
