import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from 'hono/jwt';
import { testConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { openSocket, openTap, sleep, type TestSocket } from '../../support/ws-client.ts';

const KEY = 'telemetry-key';
let running: RunningHub;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  running = await startHub(testConfig({ publishKey: KEY, jwtSecret: 'telemetry-secret-telemetry-secret-0123' }));
});
afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await running.close();
});

/** Parse Prometheus text into `name{labels}` -> value. */
async function scrape(): Promise<Map<string, number>> {
  const text = await (await fetch(`${running.httpUrl}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('telemetry', () => {
  it('metrics and $sys.stats agree with the traffic a test generates', async () => {
    const taps = await Promise.all([1, 2, 3].map(() => openTap(`${running.wsUrl}/tm.*`)));
    const line = await openSocket(running.wsUrl);
    const app = await openSocket(`${running.wsUrl}?token=${KEY}`, 'hub.v1');
    const stats = await openTap(`${running.wsUrl}/$sys.stats`);
    sockets.push(...taps, line, app, stats);
    const welcome = await app.nextJson<{ node: string }>((f) => f.op === 'welcome');
    await sleep(30);
    const before = await scrape();
    for (let i = 1; i <= 50; i++) app.send({ op: 'pub', id: i, topic: 'tm.a', data: { i } });
    await app.nextJson((f) => f.id === 50);
    for (const t of taps) await t.next((f) => f.includes('"seq":50'));

    const after = await scrape();
    const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    expect(after.get('tickhub_connections{mode="tap"}')).toBe(4); // 3 tm.* taps + the $sys.stats tap
    expect(after.get('tickhub_connections{mode="line"}')).toBe(1);
    expect(after.get('tickhub_connections{mode="app"}')).toBe(1);
    expect(delta('tickhub_messages_total{prefix="tm"}')).toBe(50);
    expect(delta('tickhub_deliveries_total{prefix="tm"}')).toBe(150);
    expect(delta('tickhub_published_total')).toBe(50);
    expect(delta('tickhub_bytes_out_total')).toBeGreaterThan(150 * 50);
    expect(after.has('tickhub_event_loop_lag_seconds{quantile="0.99"}') || after.has('tickhub_outbox_bytes{stat="sum"}')).toBe(true);
    expect(after.get("tickhub_process_resident_memory_bytes")).toBeGreaterThan(0);

    // $sys.stats arrives once a second with the same numbers.
    const latest = async () => {
      const msgs = stats.frames.map((f) => JSON.parse(f));
      return msgs.at(-1).data;
    };
    await stats.next((f) => JSON.parse(f).data.messagesIn >= 50, 3000);
    const sys = await latest();
    expect(sys.connections).toEqual({ total: 6, line: 1, app: 1, tap: 4, sse: 0 });
    expect(sys.messagesIn).toBe(after.get('tickhub_published_total'));
    expect(sys.deliveries).toBeGreaterThanOrEqual(150);
    expect(sys.eventLoopLagMs.p99).toBeGreaterThanOrEqual(0);
    expect(sys.memory.rssBytes).toBeGreaterThan(0);
    expect(sys.node).toBe(welcome.node);
    expect(sys.uptimeSeconds).toBeLessThanOrEqual(process.uptime()); // this hub's, not the process's
  });

  it('GET /api/connections shows admins each connection with its subscriptions and counts', async () => {
    const token = await sign({ role: 'admin', exp: Math.floor(Date.now() / 1000) + 60 }, 'telemetry-secret-telemetry-secret-0123', 'HS256');
    const res = await fetch(`${running.httpUrl}/api/connections`, { headers: { authorization: `Bearer ${token}` } });
    const { connections } = (await res.json()) as { connections: any[] };
    const publisher = connections.find((c) => c.mode === 'app' && c.role === 'publisher');
    expect(publisher).toMatchObject({ subject: 'HUB_PUBLISH_KEY', framesIn: 50 });
    expect(publisher.framesOut).toBeGreaterThanOrEqual(51); // welcome + 50 acks
    const taps = connections.filter((c) => c.subscriptions.includes('tm.*'));
    expect(taps).toHaveLength(3);
    for (const t of taps) expect(t.framesOut).toBe(51); // welcome + 50 messages
  });
});
