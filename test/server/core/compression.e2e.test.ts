/**
 * COMPRESSION=shared in a real browser: Chromium negotiates permessage-deflate with the hub (it
 * offers `client_max_window_bits`, the hub answers with `server_no_context_takeover`), and a page
 * tapping a burst of small and large messages on several topics receives every one intact:
 * per-topic seqs without a gap and a checksum of every `data` equal to what was published.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { until } from '../../support/until.ts';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const TOPICS = 5;
const BURST = 1000;

let hub: RunningHub;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run scripts/test-setup.sh as root, apt-get install chromium, or set CHROMIUM_PATH.`);
  hub = await startHub(testConfig({ compression: 'shared' }));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}, 60_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await hub?.close();
});

/** The same checksum in Node and in the page: a 32-bit FNV-1a over the JSON of each `data`, in order. */
function fnv1a(hash: number, text: string): number {
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619) >>> 0;
  return hash;
}

/** Large messages like an order book (several KB, compressible), small ones like ticks. */
function dataFor(i: number): unknown {
  if (i % 4 !== 0) return { i, px: (100 + i / 1000).toFixed(3) };
  return { i, bids: Array.from({ length: 40 + (i % 200) }, (_, k) => [(100 - k / 100).toFixed(2), (k * 37) % 500]) };
}

describe('COMPRESSION=shared in Chromium', () => {
  it('a tap page negotiates deflate and receives every message of a burst intact', async () => {
    const page = await browser.newPage();
    await page.goto(`${hub.httpUrl}/healthz`); // any page of the hub's origin, which may open its WebSockets
    const extensions = await page.evaluate(async (url) => {
      const w = window as unknown as { tapState: { count: number; sum: number; gaps: number; lastSeq: Record<string, number>; rsv: string } };
      w.tapState = { count: 0, sum: 0x811c9dc5, gaps: 0, lastSeq: {}, rsv: '' };
      const fnv = (hash: number, text: string) => {
        for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619) >>> 0;
        return hash;
      };
      const ws = new WebSocket(url);
      ws.onmessage = (event) => {
        const m = JSON.parse(event.data as string) as { op?: string; topic: string; seq: number; data: unknown };
        if (m.op) return;
        const s = w.tapState;
        if (s.lastSeq[m.topic] !== undefined && m.seq !== s.lastSeq[m.topic] + 1) s.gaps++;
        s.lastSeq[m.topic] = m.seq;
        s.count++;
        s.sum = fnv(s.sum, JSON.stringify(m.data));
      };
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      return ws.extensions;
    }, `${hub.wsUrl}/burst.>`);
    expect(extensions).toContain('permessage-deflate');
    expect(extensions).toContain('server_no_context_takeover');

    let sum = 0x811c9dc5;
    let jsonBytes = 0;
    for (let i = 0; i < BURST; i++) {
      const env = await hub.hub.publish(`burst.t${i % TOPICS}`, dataFor(i));
      jsonBytes += env.json.length;
      sum = fnv1a(sum, JSON.stringify((JSON.parse(env.json) as { data: unknown }).data));
    }
    const state = () => page.evaluate(() => (window as unknown as { tapState: { count: number; sum: number; gaps: number } }).tapState);
    await until(`${BURST} messages in the page`, async () => (await state()).count === BURST, 15_000);
    const final = await state();
    expect(final.gaps).toBe(0);
    expect(final.sum).toBe(sum);
    // The large ones really went compressed: the page's connection wrote far less than the JSON.
    const [conn] = [...hub.hub.connections];
    expect(conn.deflate).not.toBeNull();
    expect(conn.outbox.stats.bytesOut).toBeLessThan(jsonBytes / 2);
    await page.close();
  });
});
