/**
 * Draining a node for a rolling restart (server/core/drain.ts through RunningHub.drain): the
 * node fails its health check at once, refuses new clients, closes its clients 1012 spread over
 * DRAIN_MS, and its app-mode clients resume on another node without loss or duplicates.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HubClient, type WebSocketLike } from '../../../client/hub-client.ts';
import { testConfig } from '../../../server/config.ts';
import { DRAIN_REASON } from '../../../server/core/drain.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { parseResponse, rawExchange, upgradeRequest } from '../../support/raw-http.ts';
import { TestRedis } from '../../support/redis-server.ts';
import { until } from '../../support/until.ts';
import { openSocket, openTap, upgradeStatus, type TestSocket } from '../../support/ws-client.ts';

const KEY = 'drain-publish-key';

describe('RunningHub', () => {
  describe('#drain', () => {
    it('fails /healthz at once, refuses upgrades, and closes 30 clients 1012 spread over DRAIN_MS', async () => {
      const running = await startHub(testConfig({ drainMs: 600 }));
      const sockets: TestSocket[] = [];
      try {
        for (let i = 0; i < 30; i++) sockets.push(await openTap(`${running.wsUrl}/drain.${i}`));
        await until('30 connections registered', () => running.hub.connections.size === 30, 2000);
        const closes: { at: number; code: number; reason: string }[] = [];
        for (const s of sockets) s.closed.then(({ code, reason }) => closes.push({ at: Date.now(), code, reason }));

        const startedAt = Date.now();
        const drained = running.drain().then(() => Date.now());
        const health = await fetch(`${running.httpUrl}/healthz`);
        expect(health.status).toBe(503);
        expect(await health.json()).toMatchObject({ status: 'draining' });
        expect(await upgradeStatus(running.wsUrl)).toBe(503);
        const refused = parseResponse((await rawExchange(running.port, upgradeRequest('/ws', `127.0.0.1:${running.port}`))).response);
        expect(refused.status).toBe(503);
        expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'unavailable', message: expect.stringContaining('draining') } });

        const doneAt = await drained;
        // The window may end while the last close handshakes are still on the wire.
        await until('every client to see its close', () => closes.length === 30, 2000);
        for (const c of closes) expect(c).toMatchObject({ code: 1012, reason: DRAIN_REASON });
        const times = closes.map((c) => c.at);
        expect(Math.min(...times)).toBeGreaterThanOrEqual(startedAt);
        expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(400);
        expect(doneAt - startedAt).toBeLessThan(600 + 1500);
        expect(running.hub.connections.size).toBe(0);
      } finally {
        for (const s of sockets) s.ws.terminate();
        await running.close();
      }
    });

    it('with DRAIN_MS=0 closes every client 1012 at once', async () => {
      const running = await startHub(testConfig({ drainMs: 0 }));
      const sockets = await Promise.all([1, 2, 3].map((i) => openTap(`${running.wsUrl}/zero.${i}`)));
      try {
        await until('3 connections registered', () => running.hub.connections.size === 3, 2000);
        await running.drain();
        for (const s of sockets) expect(await s.closed).toEqual({ code: 1012, reason: DRAIN_REASON });
      } finally {
        for (const s of sockets) s.ws.terminate();
        await running.close();
      }
    });
  });
});

describe('Draining one of two nodes on one Redis', () => {
  let redis: TestRedis;
  let a: RunningHub;
  let b: RunningHub;
  const retention = [{ pattern: '>', maxMessages: 100_000, maxAgeSeconds: 3600 }];
  beforeAll(async () => {
    redis = await TestRedis.start();
    [a, b] = await Promise.all([
      startHub(testConfig({ publishKey: KEY, retention, redisUrl: redis.url, drainMs: 400 })),
      startHub(testConfig({ publishKey: KEY, retention, redisUrl: redis.url })),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  it('moves every app-mode client to the other node with no message lost or repeated', async () => {
    const N = 12;
    const seen: number[][] = Array.from({ length: N }, () => []);
    const nodes: string[][] = Array.from({ length: N }, () => []);
    // The "balancer": node A until it drains, then node B.
    const clients = seen.map((got, i) => {
      const client = new HubClient({
        url: a.wsUrl,
        minBackoffMs: 5,
        maxBackoffMs: 50,
        connect: (_url, protocol) => {
          const target = a.hub.draining ? b : a;
          nodes[i].push(target === a ? 'a' : 'b');
          return new WebSocket(target.wsUrl, protocol) as unknown as WebSocketLike;
        },
      });
      client.subscribe('drain.feed', (m) => got.push(m.seq), { snapshot: 100_000 });
      return client;
    });
    let published = 0;
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        const res = await fetch(`${b.httpUrl}/api/publish/drain.feed`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ n: published + 1 }) });
        expect(res.status).toBe(200);
        published = ((await res.json()) as { seq: number }).seq;
        await new Promise((r) => setTimeout(r, 3));
      }
    })();
    try {
      await until('every client on node A receiving', () => a.hub.connections.size === N && seen.every((s) => s.length > 5), 5000);
      await a.drain();
      await until('every client resumed on node B', () => b.hub.connections.size === N && clients.every((c) => c.status === 'open'), 5000);
      const before = published;
      await until('more messages published after the move', () => published > before + 20, 5000);
      publishing = false;
      await publisher;
      await until('every client has the last message', () => seen.every((s) => s[s.length - 1] === published), 5000);
      const all = Array.from({ length: published }, (_, k) => k + 1);
      for (let i = 0; i < N; i++) {
        expect(seen[i]).toEqual(all); // from seq 1 (the snapshot), no gap, no duplicate
        expect(nodes[i][0]).toBe('a');
        expect(nodes[i].slice(1).every((n) => n === 'b')).toBe(true);
      }
    } finally {
      publishing = false;
      await publisher.catch(() => {});
      for (const c of clients) c.close();
    }
  });
});
