/**
 * The dashboard through each documented proxy config in a real browser: three in-process hub
 * nodes on one Redis (TRUSTED_PROXIES=127.0.0.1, serving the built dashboard), the deploy/ file
 * in front with only its addresses (and, for the TLS ones, its certificate: self-signed, made by
 * the test) replaced, the simulator publishing to one node, Chromium loading the page from the
 * proxy's port. The page's own WebSocket must pass the origin check and go live: over TLS that
 * is `wss://` to the proxy, with the hub learning `https` from X-Forwarded-Proto.
 *
 * The TLS configs also: HSTS arrives over the proxy's https (and not over plain http through the
 * plain configs), a wss upgrade from the https origin is accepted and one from the http origin
 * of the same host and port refused 403, and the plain-http listener redirects to https.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../server/config.ts';
import { startHub, type RunningHub } from '../../server/server.ts';
import { runSimulator, type Logger, type RunningSimulator } from '../../simulator/run.ts';
import { startProxy, type ProxyConfig, type RunningProxy } from '../support/proxies.ts';
import { TestRedis } from '../support/redis-server.ts';
import { httpsRequest } from '../support/tls-client.ts';
import { until } from '../support/until.ts';
import { openSocket } from '../support/ws-client.ts';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const DIST = fileURLToPath(new URL('../../dashboard/dist', import.meta.url));
const KEY = 'deploy-e2e-publish-key-0123456789';
// The TLS configs' certificate is self-signed and made by the test: Chromium is told to accept it.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--ignore-certificate-errors'];
const CONFIGS: ProxyConfig[] = ['nginx', 'haproxy', 'nginx-tls', 'haproxy-tls'];
const quiet: Logger = { info() {}, warn() {}, error() {} };

let redis: TestRedis;
let nodes: RunningHub[] = [];
let sim: RunningSimulator;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run scripts/test-setup.sh as root, apt-get install chromium, or set CHROMIUM_PATH.`);
  if (!existsSync(`${DIST}/index.html`)) throw new Error('dashboard/dist/index.html is missing: run npm run build (npm test does it before vitest).');
  redis = await TestRedis.start();
  const config = testConfig({ publishKey: KEY, dashboardDir: DIST, redisUrl: redis.url, trustedProxies: ['127.0.0.1'] });
  nodes = await Promise.all([0, 1, 2].map(() => startHub(config)));
  sim = runSimulator({ hubUrl: nodes[0].wsUrl, key: KEY, rate: 10, logger: quiet });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}, 60_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await sim?.stop();
  await Promise.all(nodes.map((n) => n.close()));
  await redis?.stop();
});

for (const config of CONFIGS) {
  const file = `deploy/${config.replace(/^haproxy(-tls)?$/, 'haproxy$1.cfg').replace(/^nginx(-tls)?$/, 'nginx$1.conf')}`;
  describe(`the dashboard through ${file} in Chromium`, () => {
    let proxy: RunningProxy;
    beforeAll(async () => {
      proxy = await startProxy(config, nodes.map((n) => n.port));
    });
    afterAll(async () => {
      await proxy?.stop();
    });

    it('loads from the proxy, connects through it and goes live', async () => {
      const page = await browser.newPage();
      const problems: string[] = [];
      const sockets: string[] = [];
      page.on('console', (msg) => msg.type() === 'error' && problems.push(msg.text()));
      page.on('pageerror', (err) => problems.push(err.message));
      page.on('websocket', (ws) => sockets.push(ws.url()));
      const response = await page.goto(`${proxy.httpBase}/?symbol=AAPL`, { waitUntil: 'load' });
      expect(response?.status()).toBe(200);
      await page.locator('[data-testid="status"][data-state="open"]').waitFor({ timeout: 10_000 });
      const messages = () => page.evaluate(() => (window as unknown as { __tickhub: { messages: number } }).__tickhub.messages);
      const first = await until('messages in the page', async () => ((await messages()) > 0 ? await messages() : 0), 10_000);
      await until('more messages (live)', async () => (await messages()) > first, 10_000);
      expect(problems).toEqual([]);
      // The page's WebSocket went to the proxy, wss:// behind a TLS config.
      expect(sockets.length).toBeGreaterThanOrEqual(1);
      for (const url of sockets) expect(url.startsWith(`${proxy.wsBase}/`)).toBe(true);
      await page.close();
    });

    if (!config.endsWith('-tls')) {
      it('sends no Strict-Transport-Security over plain http', async () => {
        const res = await fetch(`${proxy.httpBase}/healthz`);
        expect(res.status).toBe(200);
        expect(res.headers.get('strict-transport-security')).toBeNull();
      });
      return;
    }

    it("HSTS arrives over the proxy's https; the origin check knows the page is https (X-Forwarded-Proto)", async () => {
      const ca = proxy.tls!.cert;
      const page = await httpsRequest(`${proxy.httpBase}/`, ca);
      expect(page.status).toBe(200);
      expect(page.headers['strict-transport-security']).toMatch(/^max-age=\d+/);
      const health = await httpsRequest(`${proxy.httpBase}/healthz`, ca);
      expect(health.headers['strict-transport-security']).toMatch(/^max-age=\d+/);

      const httpsOrigin = `https://127.0.0.1:${proxy.port}`;
      const ok = await openSocket(`${proxy.wsBase}/ws`, undefined, { origin: httpsOrigin, ca });
      ok.ws.terminate();
      // The same host and port over http is another origin: the hub must not take the page for http.
      const refused = await openSocket(`${proxy.wsBase}/ws`, undefined, { origin: `http://127.0.0.1:${proxy.port}`, ca }).then(
        (s) => (s.ws.terminate(), 'opened'),
        (e: unknown) => String(e),
      );
      expect(refused).toContain('upgrade refused: 403');
    });

    it('redirects plain http to https with 301', async () => {
      const res = await fetch(`${proxy.tls!.redirectBase}/?symbol=AAPL`, { redirect: 'manual' });
      expect(res.status).toBe(301);
      expect(res.headers.get('location')).toMatch(/^https:\/\/127\.0\.0\.1(:\d+)?\/\?symbol=AAPL$/);
    });
  });
}
